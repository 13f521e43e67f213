// tests/unit_history.cpp: History, Op and Verdict without a server: each checker case, an
// Op dropped without an outcome, the JSON lines read back, and 16 writer threads.
#include <libpq-fe.h>

#include <pgha/history.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "catch.hpp"

namespace {
using KeyValues = std::vector<std::pair<std::string, std::string>>;

// A minimal reader for the flat JSON objects write_jsonl emits: string and integer values.
std::map<std::string, std::string> parse_line(const std::string& line) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  auto expect = [&](char c) {
    REQUIRE(i < line.size());
    REQUIRE(line[i] == c);
    ++i;
  };
  auto string = [&] {
    expect('"');
    std::string s;
    while (line.at(i) != '"') {
      char c = line[i++];
      if (c != '\\') { s += c; continue; }
      char e = line.at(i++);
      switch (e) {
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': s += static_cast<char>(std::stoi(line.substr(i, 4), nullptr, 16)); i += 4; break;
        default: s += e;
      }
    }
    ++i;
    return s;
  };
  expect('{');
  while (line.at(i) != '}') {
    std::string k = string();
    expect(':');
    if (line.at(i) == '"') {
      out[k] = string();
    } else {
      std::size_t j = i;
      while (line.at(j) == '-' || std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
      REQUIRE(j > i);
      out[k] = "#" + line.substr(i, j - i);  // '#': a number, not a string
      i = j;
    }
    if (line.at(i) == ',') ++i;
  }
  REQUIRE(i + 1 == line.size());
  return out;
}

// A Result holding `rows` (columns key, value), built with libpq but no server.
pgha::Result make_result(const KeyValues& rows) {
  PGresult* r = PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK);
  PGresAttDesc cols[2] = {};
  cols[0].name = const_cast<char*>("key");
  cols[1].name = const_cast<char*>("value");
  cols[0].format = cols[1].format = 0;
  cols[0].typid = cols[1].typid = 25;
  cols[0].typlen = cols[1].typlen = -1;
  cols[0].atttypmod = cols[1].atttypmod = -1;
  REQUIRE(PQsetResultAttrs(r, 2, cols));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    int row = static_cast<int>(i);
    REQUIRE(PQsetvalue(r, row, 0, const_cast<char*>(rows[i].first.c_str()), static_cast<int>(rows[i].first.size())));
    REQUIRE(PQsetvalue(r, row, 1, const_cast<char*>(rows[i].second.c_str()), static_cast<int>(rows[i].second.size())));
  }
  return pgha::detail::ConnectionAccess::adopt(r);
}
}  // namespace

TEST_CASE("history: a clean history is ok") {
  pgha::History h;
  h.invoke("k1", "1").ok();
  h.invoke("k1", "2").ok();
  h.invoke("k2", "3").fail("rejected");
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}, {"k1", "2"}});
  CHECK(v.ok());
  CHECK(v.acknowledged() == 2);
  CHECK(v.failed() == 1);
  CHECK(v.attempted() == 3);
  CHECK(v.rows() == 2);
  CHECK(v.lost().empty());
  CHECK_THAT(v.summary(), Catch::Matchers::StartsWith("OK: 3 operations attempted, 2 acknowledged"));
}

TEST_CASE("history: an acknowledged append that is missing is lost") {
  pgha::History h;
  h.invoke("k1", "1").ok();
  h.invoke("k1", "2").ok();
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}});
  CHECK_FALSE(v.ok());
  REQUIRE(v.lost().size() == 1);
  CHECK(v.lost()[0].key == "k1");
  CHECK(v.lost()[0].value == "2");
  CHECK(v.lost()[0].outcome == pgha::Outcome::Ok);
  CHECK_THAT(v.summary(), Catch::Matchers::ContainsSubstring("LOST 1 acknowledged: k1=2"));
}

TEST_CASE("history: a failed append that is present is revived") {
  pgha::History h;
  h.invoke("k1", "1").fail("told it failed");
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}});
  CHECK_FALSE(v.ok());
  REQUIRE(v.revived().size() == 1);
  CHECK(v.revived()[0].value == "1");
  CHECK(v.revived()[0].note == "told it failed");
  CHECK(v.lost().empty());
  CHECK_THAT(v.summary(), Catch::Matchers::ContainsSubstring("REVIVED 1"));
}

TEST_CASE("history: a row nobody attempted is a phantom") {
  pgha::History h;
  h.invoke("k1", "1").ok();
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}, {"k1", "99"}, {"k9", "1"}});
  CHECK_FALSE(v.ok());
  REQUIRE(v.phantom().size() == 2);
  CHECK(v.phantom()[0].key == "k1");
  CHECK(v.phantom()[0].value == "99");
  CHECK(v.phantom()[1].key == "k9");
  CHECK(v.revived().empty());
  CHECK(v.duplicated().empty());
}

TEST_CASE("history: a row present more often than written is duplicated") {
  pgha::History h;
  h.invoke("k1", "1").ok();
  h.invoke("k1", "2").ok();
  h.invoke("k1", "2").ok();  // the same value appended twice is two rows, not a duplicate
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}, {"k1", "1"}, {"k1", "2"}, {"k1", "2"}});
  CHECK_FALSE(v.ok());
  REQUIRE(v.duplicated().size() == 1);
  CHECK(v.duplicated()[0].value == "1");
  CHECK(v.duplicated()[0].count == 2);
  CHECK(v.phantom().empty());
  CHECK(v.lost().empty());
}

TEST_CASE("history: unknown outcomes are allowed either way and counted") {
  pgha::History h;
  h.invoke("k1", "1").unknown("connection lost during COMMIT");
  h.invoke("k1", "2").unknown("connection lost during COMMIT");
  h.invoke("k1", "3").unknown();
  pgha::Op pending = h.invoke("k1", "4");  // no outcome yet: checked as unknown
  pgha::Verdict v = h.check(KeyValues{{"k1", "1"}, {"k1", "4"}});
  CHECK(v.ok());
  CHECK(v.unknown_present() == 2);
  CHECK(v.unknown_absent() == 2);
  CHECK(v.acknowledged() == 0);
  CHECK_THAT(v.summary(), Catch::Matchers::ContainsSubstring("4 unknown (2 present, 2 absent)"));
  pending.ok();
}

TEST_CASE("history: check reads the first two columns of a Result") {
  pgha::History h;
  h.invoke("k1", "1").ok();
  h.invoke("k1", "2").ok();
  pgha::Verdict v = h.check(make_result(KeyValues{{"k1", "2"}}));
  REQUIRE(v.lost().size() == 1);
  CHECK(v.lost()[0].value == "1");
  CHECK_THROWS_AS(h.check(pgha::Result()), pgha::UsageError);
}

TEST_CASE("history: an Op that goes out of scope without an outcome is unknown") {
  pgha::History h;
  { pgha::Op op = h.invoke("k1", "1"); }
  pgha::Op moved_over = h.invoke("k1", "2");
  moved_over = h.invoke("k1", "3");  // the overwritten handle's op becomes unknown
  moved_over.ok();
  auto ops = h.ops();
  REQUIRE(ops.size() == 3);
  CHECK(ops[0].outcome == pgha::Outcome::Unknown);
  CHECK_THAT(ops[0].note, Catch::Matchers::ContainsSubstring("went out of scope"));
  CHECK(ops[1].outcome == pgha::Outcome::Unknown);
  CHECK(ops[2].outcome == pgha::Outcome::Ok);
  CHECK(h.count(pgha::Outcome::Unknown) == 2);
  CHECK(h.count(pgha::Outcome::Pending) == 0);
  // A second outcome is a mistake the caller hears about at once.
  CHECK_THROWS_AS(moved_over.fail(), pgha::UsageError);
  pgha::Verdict v = h.check(KeyValues{{"k1", "3"}});
  CHECK(v.ok());
  CHECK(v.unknown_absent() == 2);
}

TEST_CASE("history: write_jsonl writes one event a line and reads back") {
  pgha::History h;
  pgha::Op a = h.invoke("k1", "va\"l\\ue\n\t\x01");
  pgha::Op b = h.invoke("k2", "2", 7);
  b.fail("why: \"quoted\"");
  a.ok();
  h.invoke("k3", "3").unknown("connection lost during COMMIT");
  char path[] = "/tmp/pgha-history-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  h.write_jsonl(path);
  std::ifstream in(path);
  std::vector<std::map<std::string, std::string>> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(parse_line(line));
  std::remove(path);
  REQUIRE(lines.size() == 6);
  auto events = h.events();
  REQUIRE(events.size() == 6);
  const char* types[] = {"invoke", "invoke", "fail", "ok", "invoke", "info"};
  long long last_time = -1;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto& l = lines[i];
    CHECK(l.size() == 8);
    CHECK(l["index"] == "#" + std::to_string(i));
    CHECK(l["type"] == types[i]);
    CHECK(l["f"] == "append");
    CHECK(l["key"] == events[i].key);
    CHECK(l["value"] == events[i].value);
    CHECK(l["note"] == events[i].note);
    CHECK(l["process"] == "#" + std::to_string(events[i].process));
    long long t = std::stoll(l["time"].substr(1));
    CHECK(t >= last_time);
    last_time = t;
  }
  CHECK(lines[0]["value"] == "va\"l\\ue\n\t\x01");
  CHECK(lines[1]["process"] == "#7");
  CHECK(lines[2]["note"] == "why: \"quoted\"");
  CHECK(lines[0]["note"].empty());
  CHECK(lines[5]["note"] == "connection lost during COMMIT");
  CHECK_THROWS_AS(h.write_jsonl(std::string("/nonexistent-dir/h.jsonl")), pgha::Error);
}

TEST_CASE("history: 16 writer threads lose no event", "[tsan]") {
  pgha::History h;
  const int threads = 16, per_thread = 2000;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) {
        pgha::Op op = h.invoke("k" + std::to_string(i % 3), std::to_string(t) + "-" + std::to_string(i));
        if (i % 3 == 0) op.ok();
        else if (i % 3 == 1) op.fail();
        // else: dropped, unknown
      }
    });
  go = true;
  for (auto& t : ts) t.join();
  auto ops = h.ops();
  auto events = h.events();
  REQUIRE(ops.size() == std::size_t(threads * per_thread));
  REQUIRE(events.size() == 2 * ops.size());
  std::set<std::string> values;
  std::set<int> processes;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    CHECK(ops[i].id == i);
    CHECK(ops[i].outcome != pgha::Outcome::Pending);
    CHECK(ops[i].invoke_index < ops[i].complete_index);
    values.insert(ops[i].value);
    processes.insert(ops[i].process);
  }
  CHECK(values.size() == ops.size());
  CHECK(processes.size() == std::size_t(threads));
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].index == i);
  CHECK(h.count(pgha::Outcome::Ok) + h.count(pgha::Outcome::Fail) + h.count(pgha::Outcome::Unknown) ==
        ops.size());
  KeyValues rows;
  for (auto& o : ops)
    if (o.outcome == pgha::Outcome::Ok) rows.emplace_back(o.key, o.value);
  pgha::Verdict v = h.check(rows);
  CHECK(v.ok());
  CHECK(v.acknowledged() == rows.size());
}
