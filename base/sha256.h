// SHA-256 (OpenSSL) for upload checksums shared by client and server.
#ifndef FRINGE_BASE_SHA256_H_
#define FRINGE_BASE_SHA256_H_

#include <memory>
#include <string>

namespace fringe {

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(const std::string& bytes);

// Incremental SHA-256 over pieces of a file.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void Update(const char* data, size_t size);
  // Lowercase hex digest; the object is spent afterwards.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fringe

#endif  // FRINGE_BASE_SHA256_H_
