// Options a stage1 takes (`--stage1-opt NAME=VALUE`). A stage1 declares them
// in its image manifest, annotation `pod/stage1/options`, as a JSON list:
//
//   [{"name": "accel", "type": "enum", "values": ["auto", "kvm", "tcg"],
//     "default": "auto", "help": "…"},
//    {"name": "cpus", "type": "int", "min": 1, "max": 64, "default": "1", "help": "…"},
//    {"name": "memory", "type": "size", "help": "guest RAM (k/M/G, Ki/Mi/Gi)"}]
//
// Types: string, bool (true/false), int (decimal, optional min/max), enum
// (one of values), size (bytes, with an optional k/M/G/T or Ki/Mi/Gi/Ti suffix).
// stage0 checks the values a user gives against the declaration when it
// prepares the pod, so a typo fails at once with the list of what the stage1
// takes; it never interprets them. Documentation/stage1-abi.md.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pod::stage1 {

inline constexpr const char* kAnnOptions = "pod/stage1/options";

struct OptionDecl {
  std::string name, type = "string", def, help;
  std::vector<std::string> values;  // enum
  std::optional<int64_t> min, max;  // int
};

// The declarations of a stage1 image manifest ([] when it declares none).
// Throws (kind Invalid) on a malformed declaration, naming the stage1.
std::vector<OptionDecl> declared_options(const nlohmann::json& stage1_manifest);

// Check `given` (NAME -> VALUE) against `decls`; usage errors name the option
// and say what it takes.
void check_options(const std::vector<OptionDecl>& decls, const std::map<std::string, std::string>& given,
                   const std::string& stage1_name);

// "NAME=VALUE" -> {NAME, VALUE} (usage error otherwise).
std::pair<std::string, std::string> parse_option_flag(const std::string& s);

// An option value of type int: decimal, optional '-', at most 18 digits; nullopt otherwise.
std::optional<int64_t> parse_integer(const std::string& s);

// A size with an optional decimal or binary suffix -> bytes; nullopt when malformed or > 2^63.
std::optional<uint64_t> parse_size(const std::string& s);

}  // namespace pod::stage1
