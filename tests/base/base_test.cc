// SHA-256 against the FIPS 180-2 test vectors (one-shot and in pieces), and the safe-name rule.
#include <gtest/gtest.h>

#include <string>

#include "base/safe_name.h"
#include "base/sha256.h"

namespace fringe {
namespace {

TEST(Sha256Test, MatchesTheStandardVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(Sha256Hex(two_blocks),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 pieces;
  for (size_t i = 0; i < two_blocks.size(); i += 7) {
    pieces.Update(two_blocks.data() + i, std::min<size_t>(7, two_blocks.size() - i));
  }
  EXPECT_EQ(pieces.HexDigest(), Sha256Hex(two_blocks));
}

TEST(SafeNameTest, OnePathComponentNeverHiddenOrRelative) {
  for (const char* ok : {"default", "msa-em_2", "v1.2", "A"}) EXPECT_TRUE(IsSafeName(ok)) << ok;
  for (const char* bad : {"", ".", "..", ".hidden", "../etc", "a/b", "a b", "a\\b", "x\n"}) {
    EXPECT_FALSE(IsSafeName(bad)) << bad;
  }
  EXPECT_TRUE(IsSafeName(std::string(200, 'a')));
  EXPECT_FALSE(IsSafeName(std::string(201, 'a')));
}

}  // namespace
}  // namespace fringe
