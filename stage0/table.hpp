#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace pod::cli {

// Left-aligned columns separated by two spaces; the header is optional.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, bool legend);

}  // namespace pod::cli
