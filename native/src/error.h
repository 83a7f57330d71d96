// The one exception type the engine throws: its message is meant for the user and says what
// is wrong (file, tensor, field, setting) and, where it can, what to change.
#pragma once

#include <stdexcept>
#include <string>

namespace pagoda {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

} // namespace pagoda
