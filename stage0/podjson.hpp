// The JSON shapes `pod list` and `pod status` print (Documentation/cli.md).
#pragma once
#include <nlohmann/json.hpp>
#include <pod/types.hpp>

namespace pod::cli {

nlohmann::json status_json(const PodStatus& s);

}  // namespace pod::cli
