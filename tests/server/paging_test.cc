#include "server/paging.h"

#include <gtest/gtest.h>

namespace fringe::paging {
namespace {

TEST(PagingTest, PageSizesDefaultCapAndRefuseNegatives) {
  EXPECT_EQ(*PageSize(0, 100), 100);
  EXPECT_EQ(*PageSize(7, 100), 7);
  EXPECT_EQ(*PageSize(50000, 100), kMaxPageSize);
  const absl::Status negative = PageSize(-1, 100).status();
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.message().find("page_size"), std::string::npos);
}

TEST(PagingTest, NamePagesCoverEveryNameOnceAndSurviveRemovals) {
  std::vector<std::string> names = {"a", "b", "c", "d", "e"};
  Page first = NamePage(names, "", 2);
  EXPECT_EQ(first.begin, 0u);
  EXPECT_EQ(first.end, 2u);
  EXPECT_EQ(first.next_token, "b");
  // "b" vanishes between the calls: the next page still starts after it.
  names.erase(names.begin() + 1);
  Page second = NamePage(names, first.next_token, 2);
  EXPECT_EQ(names[second.begin], "c");
  EXPECT_EQ(second.end - second.begin, 2u);
  EXPECT_EQ(second.next_token, "d");
  Page last = NamePage(names, second.next_token, 2);
  EXPECT_EQ(names[last.begin], "e");
  EXPECT_EQ(last.end, names.size());
  EXPECT_EQ(last.next_token, "");  // No empty page after the last one.
  EXPECT_EQ(NamePage(names, "zzz", 2).begin, NamePage(names, "zzz", 2).end);
}

TEST(PagingTest, JobTokensRoundTripAndForeignOnesAreRefused) {
  const JobFilter::Cursor cursor{1764000000123, 42};
  auto parsed = ParseJobToken(JobToken(cursor));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->created_ms, cursor.created_ms);
  EXPECT_EQ(parsed->seq, cursor.seq);
  for (const char* bad : {"", "42", "a.b", "1.2.3", "-1.5"}) {
    EXPECT_EQ(ParseJobToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PagingTest, JobIdsParseBackToTheirSequence) {
  EXPECT_EQ(ParseJobId(FormatJobId(42)), 42);
  EXPECT_EQ(ParseJobId(FormatJobId(123456789012)), 123456789012);
  for (const char* bad : {"", "job-", "job-42", "job-0000004x", "task-00000042"}) {
    EXPECT_FALSE(ParseJobId(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace fringe::paging
