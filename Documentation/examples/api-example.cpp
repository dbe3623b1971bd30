// A program that runs a pod through libpod's public API (Documentation/api.md).
//
//   c++ -o api-example api-example.cpp $(pkg-config --cflags --libs pod)
//   ./api-example DATA_DIR IMAGE [MESSAGE]
//
// Fetches IMAGE (an ACI file, URL or name), creates a pod whose one app runs
// `/bin/echo MESSAGE`, runs it to its end, prints what the app wrote and the
// pod's status, and removes the pod. Exits with the pod's exit status; any
// pod::Error is printed with its kind.
#include <pod/pod.hpp>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " DATA_DIR IMAGE [MESSAGE]\n";
    return 2;
  }
  try {
    pod::Runtime rt = pod::Runtime::open(argv[1]);
    pod::FetchOptions fetch;
    fetch.insecure_image = true;  // a local test image without a signature
    const std::string image = rt.fetch_image(argv[2], fetch);

    pod::PodSpec spec;
    pod::AppSpec app;
    app.image = image;
    app.name = "hello";
    app.exec = "/bin/echo";
    app.args = {argc > 3 ? argv[3] : "hello from libpod"};
    app.args_given = true;
    spec.apps.push_back(app);

    const std::string uuid = rt.create_pod(spec);
    std::cout << "pod " << uuid << " is " << pod::state_name(rt.pod_status(uuid).state) << "\n";
    std::fflush(stdout);  // the pod's own output goes to the same stdout
    const int status = rt.run_pod(uuid);

    const pod::PodStatus st = rt.pod_status(uuid);
    std::cout << "pod " << uuid << " is " << pod::state_name(st.state) << ", exit status " << status << "\n";
    for (const auto& a : st.apps)
      std::cout << "app " << a.name << " exited with " << (a.exit ? a.exit->exit_code : -1) << " and wrote: "
                << rt.app_log(uuid, a.name);
    rt.remove_pod(uuid);
    return status;
  } catch (const pod::Error& e) {
    std::cerr << "api-example: " << pod::error_kind_name(e.kind()) << ": " << e.what() << "\n";
    return 1;
  }
}
