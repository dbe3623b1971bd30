// pod run/prepare --pod-manifest=FILE: a user's appc pod manifest instead of
// one built from flags. It is untrusted input: every error names the file and
// the field. It is reified before the pod exists: each app's image is pinned
// by ID (image.id, else fetched by image.name and its version label), an app
// without an `app` section gets its image's, and every mount point of an app
// is backed by the pod volume of its name (as for flags). The result is the
// pod manifest the stage1 gets and `pod cat-manifest` shows.
#pragma once
#include <pod/spec.hpp>
#include <string>
#include <vector>

#include "contract/manifest.hpp"
#include "run/podspec.hpp"

namespace pod::images {
class ImageStore;
}

namespace pod::run {

struct GivenPod {
  contract::PodManifest manifest;  // reified; its `ports` moved to spec.ports (NAME:[HOSTIP:]HOSTPORT)
  std::vector<ResolvedApp> apps;   // in manifest order
};

// Refuses the flags the manifest replaces (IMAGEs and their app flags,
// --volume, --port), then loads, resolves and reifies the file. Adds the
// manifest's exposed ports to spec.ports.
GivenPod load_pod_manifest(PodSpec& spec, images::ImageStore& is);

}  // namespace pod::run
