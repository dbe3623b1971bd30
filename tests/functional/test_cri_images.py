"""`pod cri`: the CRI ImageService and the runtime information calls through a gRPC client built from the
same api.proto (python3-grpcio), against images umoci builds and skopeo pushes to a real docker-registry:
pull (with and without credentials), list, status by tag, ID and digest, remove, image fs usage, bad requests
and their status codes, one server per socket, and a server restart that loses nothing."""
import json
import os

import grpc
import pytest

from conftest import needs_root
from cri_helpers import api, code_of, cri, needs_cri  # noqa: F401 (fixtures)
from oci_helpers import build_layout, config_id
from registry_helpers import needs_registry, registry  # noqa: F401 (fixture)

pytestmark = [needs_root(), needs_registry, needs_cri]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return build_layout(str(tmp_path_factory.mktemp("oci")))


def manifest_digest(layout, tag):
    for m in json.load(open(os.path.join(layout, "index.json")))["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    raise KeyError(tag)


def cri_id(layout, tag):
    return "sha256:" + config_id(layout, tag).split("-", 1)[1]


@pytest.fixture
def no_ambient_creds(monkeypatch, tmp_path):
    """No credentials but what the test gives (REGISTRY_AUTH_FILE is unset, not emptied: docker-registry reads
    REGISTRY_* variables as its own configuration)."""
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    for k, v in {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "xdg")}.items():
        monkeypatch.setenv(k, v)


def spec(api, ref):
    return api.ImageSpec(image=ref)


def test_version_and_status(cri, api):
    srv = cri()
    v = srv.runtime.Version(api.VersionRequest(version="v1"))
    assert (v.runtime_name, v.runtime_api_version) == ("pod", "v1")
    assert v.runtime_version == json.loads(srv.pod.run("version", "--format=json", check=0).stdout)["version"]
    st = srv.runtime.Status(api.StatusRequest(verbose=True))
    conds = {c.type: c for c in st.status.conditions}
    assert conds["RuntimeReady"].status is True, conds["RuntimeReady"].message
    assert conds["NetworkReady"].status is True, conds["NetworkReady"].message
    assert st.info["dataDir"] == srv.pod.dir
    srv.runtime.UpdateRuntimeConfig(api.UpdateRuntimeConfigRequest(
        runtime_config=api.RuntimeConfig(network_config=api.NetworkConfig(pod_cidr="10.88.0.0/16"))))
    srv.stop()
    assert "pod CIDR is 10.88.0.0/16" in srv.log()


def test_network_not_ready_names_the_problem(cri, api):
    srv = cri("--net=nosuchnet")
    conds = {c.type: c for c in srv.runtime.Status(api.StatusRequest()).status.conditions}
    assert conds["RuntimeReady"].status is True
    assert conds["NetworkReady"].status is False and conds["NetworkReady"].reason == "PodNetworkNotReady"
    assert "nosuchnet" in conds["NetworkReady"].message
    srv.stop()


def test_pull_list_status_remove(cri, api, registry, layout, no_ambient_creds):
    reg = registry()
    reg.push(layout, "team/app", "t1")
    srv = cri("--insecure-registry", reg.host)
    ref = reg.ref("team/app", "t1")
    want_id, mdigest = cri_id(layout, "t1"), manifest_digest(layout, "t1")
    assert srv.images.PullImage(api.PullImageRequest(image=spec(api, ref))).image_ref == want_id
    # Pulling again asks the registry again (a tag may have moved, as with every CRI runtime), and stores
    # nothing twice.
    assert srv.images.PullImage(api.PullImageRequest(image=spec(api, ref))).image_ref == want_id
    reg.stop()

    imgs = srv.images.ListImages(api.ListImagesRequest()).images
    assert [i.id for i in imgs] == [want_id]
    img = imgs[0]
    assert list(img.repo_tags) == [ref]
    assert list(img.repo_digests) == [f"{reg.host}/team/app@{mdigest}"]
    assert img.size > 0 and img.spec.image == want_id
    assert img.username == "app"  # the config's User
    # Status by tag, by ID, by ID without its algorithm, by digest reference; the list filter alike.
    for r in (ref, want_id, want_id.split(":", 1)[1], f"{reg.host}/team/app@{mdigest}"):
        assert srv.images.ImageStatus(api.ImageStatusRequest(image=spec(api, r))).image.id == want_id, r
        got = srv.images.ListImages(api.ListImagesRequest(filter=api.ImageFilter(image=spec(api, r)))).images
        assert [i.id for i in got] == [want_id], r
    verbose = srv.images.ImageStatus(api.ImageStatusRequest(image=spec(api, ref), verbose=True))
    assert json.loads(verbose.info["info"])["manifest"]["app"]["user"] == "app"
    # An image that is not there: no image and no error (the CRI's rule).
    absent = srv.images.ImageStatus(api.ImageStatusRequest(image=spec(api, f"{reg.host}/team/app:t9")))
    assert not absent.HasField("image")

    fs = srv.images.ImageFsInfo(api.ImageFsInfoRequest()).image_filesystems
    assert len(fs) == 1 and fs[0].fs_id.mountpoint == os.path.join(srv.pod.dir, "images")
    assert fs[0].used_bytes.value > 1_000_000 and fs[0].inodes_used.value > 10  # busybox is in there

    srv.images.RemoveImage(api.RemoveImageRequest(image=spec(api, ref)))
    assert list(srv.images.ListImages(api.ListImagesRequest()).images) == []
    assert json.loads(srv.pod.run("image", "list", "--format=json", check=0).stdout) == []
    srv.images.RemoveImage(api.RemoveImageRequest(image=spec(api, ref)))  # idempotent
    srv.stop()


def test_pull_with_credentials(cri, api, registry, layout, no_ambient_creds):
    reg = registry(auth=("kube", "s3cret"))
    reg.push(layout, "app", "t1")
    srv = cri("--insecure-registry", reg.host)
    ref = reg.ref("app", "t1")
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(image=spec(api, ref))))
    assert code == grpc.StatusCode.UNKNOWN and "401" in msg, msg
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(
        image=spec(api, ref), auth=api.AuthConfig(username="kube", password="wrong"))))
    assert code == grpc.StatusCode.UNKNOWN and "401" in msg, msg
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(
        image=spec(api, ref), auth=api.AuthConfig(registry_token="tok"))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "registry_token" in msg
    got = srv.images.PullImage(api.PullImageRequest(image=spec(api, ref),
                                                    auth=api.AuthConfig(username="kube", password="s3cret")))
    assert got.image_ref == cri_id(layout, "t1")
    # The credentials were given for this call only: nothing of them is left in the data dir.
    for root, _, files in os.walk(srv.pod.dir):
        for f in files:
            p = os.path.join(root, f)
            if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) < 1 << 20:
                assert b"s3cret" not in open(p, "rb").read(), p
    srv.stop()


def test_bad_requests_get_the_status_codes_the_cri_expects(cri, api):
    srv = cri()
    for call, req in ((srv.images.PullImage, api.PullImageRequest()),
                      (srv.images.ImageStatus, api.ImageStatusRequest()),
                      (srv.images.RemoveImage, api.RemoveImageRequest())):
        code, msg = code_of(lambda: call(req))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "image.image is empty" in msg, msg
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(image=spec(api, "Bad//Ref::x"))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, msg
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(image=spec(api, "sha256:" + "a" * 64))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "is an image ID" in msg
    code, msg = code_of(lambda: srv.images.ImageStatus(api.ImageStatusRequest(image=spec(api, "sha256:ab"))))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "too short" in msg
    # A registry that is not there: the pull fails, naming it; the server keeps serving.
    code, msg = code_of(lambda: srv.images.PullImage(api.PullImageRequest(image=spec(api, "127.0.0.1:1/x:y"))))
    assert code == grpc.StatusCode.UNKNOWN and "127.0.0.1:1" in msg, msg
    assert srv.runtime.Version(api.VersionRequest()).runtime_name == "pod"
    srv.stop()


def test_one_server_per_socket_and_restart_loses_nothing(cri, api, pod, registry, layout, tmp_path,
                                                         no_ambient_creds):
    reg = registry()
    reg.push(layout, "app", "t1")
    srv = cri("--insecure-registry", reg.host)
    srv.images.PullImage(api.PullImageRequest(image=spec(api, reg.ref("app", "t1"))))
    second = pod.run("cri", f"--listen=unix://{srv.sock}", timeout=30)
    assert second.returncode == 4 and f"another pod cri serves {srv.sock}" in second.stderr, second.stderr
    assert srv.runtime.Version(api.VersionRequest()).runtime_name == "pod"  # the first one is unharmed
    srv.kill()  # kill -9: the socket file stays behind, the next server replaces it
    assert os.path.exists(srv.sock)
    again = cri(sock=srv.sock)
    assert [i.id for i in again.images.ListImages(api.ListImagesRequest()).images] == [cri_id(layout, "t1")]
    assert os.stat(srv.sock).st_mode & 0o777 == 0o600
    again.stop()


def test_listen_must_be_a_unix_socket(pod):
    r = pod.run("cri", "--listen=tcp://127.0.0.1:1234", timeout=30)
    assert r.returncode == 2 and "give unix:///ABSOLUTE/PATH" in r.stderr, r.stderr
