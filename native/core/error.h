// The core's one exception type. The addon turns it into a JS error of the
// matching class with `code` set; nothing else in the core throws.
#pragma once
#include <stdexcept>
#include <string>

namespace fr {

enum class ErrorKind { kError, kTypeError, kRangeError };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const char* code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(code) {}
  ErrorKind kind() const { return kind_; }
  const char* code() const { return code_; }

 private:
  ErrorKind kind_;
  const char* code_;
};

}  // namespace fr
