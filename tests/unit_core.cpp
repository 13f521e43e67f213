// tests/unit_core.cpp: quoting, enum printing and option validation, no server. Quoting is
// checked against the real parsers: libpq's PQconninfoParse and /bin/sh.
#include <libpq-fe.h>
#include <sys/wait.h>

#include <pgha/pgha.hpp>
#include <pgha/detail/quote.hpp>
#include <pgha/detail/replication.hpp>
#include <pgha/detail/scram.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <type_traits>

#include "catch.hpp"

using namespace pgha::detail;

namespace {
// The value libpq parses for `key` out of `conninfo`, or "<parse error: ...>".
std::string libpq_value(const std::string& conninfo, const std::string& key) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string e = err ? err : "?";
    PQfreemem(err);
    return "<parse error: " + e + ">";
  }
  std::string out = "<absent>";
  for (PQconninfoOption* o = opts; o->keyword; ++o)
    if (key == o->keyword && o->val) out = o->val;
  PQconninfoFree(opts);
  return out;
}
std::string sh_echo(const std::string& word) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(("printf '%s' " + word).c_str(), "r"), ::pclose);
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return out;
}
const char* kOdd[] = {"plain", "/tmp/a b", "it's", "back\\slash", "x=y z", "''", "\"q\"", "%f 100%", ""};
}  // namespace

TEST_CASE("conninfo values survive libpq's parser whatever they hold") {
  for (const char* v : kOdd) {
    std::string ci = conninfo_param("host", v) + " " + conninfo_param("dbname", std::string(v) + "!") +
                     " port=5432";
    CHECK(libpq_value(ci, "host") == v);
    CHECK(libpq_value(ci, "dbname") == std::string(v) + "!");
    CHECK(libpq_value(ci, "port") == "5432");
  }
}

TEST_CASE("shell words survive /bin/sh whatever they hold") {
  for (const char* v : kOdd) CHECK(sh_echo(shell_quote(v)) == v);
}

TEST_CASE("archive and restore commands quote the path and double '%'") {
  CHECK(archive_command("/a b/it's 5%") == "cp %p '/a b/it'\\''s 5%%'/%f");
  CHECK(restore_command("/x") == "test -f '/x'/%f && cp '/x'/%f %p");
}

// The server runs restore_command through /bin/sh with %f and %p replaced; a nonzero
// exit means "not in the archive". Run here the same way, in an odd directory.
TEST_CASE("restore_command copies a file that is in the archive and fails for one that is not") {
  std::string dir = "/tmp/pgha unit restore it's 5%";
  std::system(("rm -rf " + shell_quote(dir)).c_str());
  REQUIRE(std::system(("mkdir -p " + shell_quote(dir + "/archive") + " " + shell_quote(dir + "/wal")).c_str()) == 0);
  write_file(dir + "/archive/000000010000000000000003", "segment", RunAs{});
  auto run = [&](const std::string& file) {
    std::string cmd = restore_command(dir + "/archive");
    std::string out;  // what the server does with %f, %p and %%
    for (std::size_t i = 0; i < cmd.size(); ++i) {
      if (cmd[i] == '%' && i + 1 < cmd.size()) {
        char c = cmd[++i];
        out += c == 'f' ? file : c == 'p' ? shell_quote(dir + "/wal/RECOVERYXLOG") : std::string(1, c);
      } else {
        out += cmd[i];
      }
    }
    int st = std::system(out.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  CHECK(run("00000002.history") != 0);
  CHECK(read_file(dir + "/wal/RECOVERYXLOG").empty());
  CHECK(run("000000010000000000000003") == 0);
  CHECK(read_file(dir + "/wal/RECOVERYXLOG") == "segment");
  std::system(("rm -rf " + shell_quote(dir)).c_str());
}

TEST_CASE("SQL literals and identifiers double their quote character") {
  CHECK(sql_literal("it's") == "'it''s'");
  CHECK(sql_literal("a\\b") == "'a\\b'");
  CHECK(sql_ident("my \"odd\" name") == "\"my \"\"odd\"\" name\"");
}

TEST_CASE("synchronous_standby_names quotes every name") {
  Topology t;
  t.init("pgslave001", true);
  CHECK(t.sync_names() == "pgslave001");
  CHECK(t.add_sync_candidate("standby 2's = x"));
  CHECK_FALSE(t.add_sync_candidate("standby 2's = x"));
  CHECK(t.sync_names() == "FIRST 1 (pgslave001, \"standby 2's = x\")");
  CHECK(sync_name("first") == "\"first\"");
  CHECK(sync_name("9lives") == "\"9lives\"");
  CHECK(sync_name("s_1") == "s_1");
  Topology lone;
  lone.init("p", false);
  CHECK(lone.sync_names().empty());
}

TEST_CASE("synchronous_standby_names with a FIRST n or ANY n rule (TempCluster)") {
  Topology t;
  t.init("pgslave001", false);
  t.set_sync_rule(2, true);
  t.list_candidate("pgslave001");
  t.list_candidate("pgslave002");
  CHECK(t.sync_names().empty());  // not armed: a lone primary until its first standby
  CHECK(t.add_sync_candidate("pgslave001"));  // listed already: arms only
  CHECK(t.sync_names() == "ANY 2 (pgslave001, pgslave002)");
  t.set_sync_rule(1, false);
  CHECK(t.sync_names() == "FIRST 1 (pgslave001, pgslave002)");
  Topology one;
  one.init("a", true);
  one.set_sync_rule(1, true);
  CHECK(one.sync_names() == "ANY 1 (a)");
  one.set_sync_rule(0, false);  // below 1: 1
  CHECK(one.sync_count() == 1);
  CHECK(one.sync_names() == "a");
}

TEST_CASE("public enums print their names") {
  std::ostringstream o;
  o << pgha::Role::Primary << ' ' << pgha::Role::Standby << ' ' << pgha::StopMode::Crash << ' '
    << pgha::SyncMode::RemoteApply << ' ' << pgha::RejoinMethod::Recloned << ' '
    << pgha::LinkCut::Blackhole << ' ' << pgha::CloneMethod::BackupApi << ' '
    << pgha::RepairMethod::Rewind;
  CHECK(o.str() == "Primary Standby Crash RemoteApply Recloned Blackhole BackupApi Rewind");
  CHECK(std::string(pgha::synchronous_commit_setting(pgha::SyncMode::RemoteApply)) == "remote_apply");
}

TEST_CASE("the stop timeout text names the mode that timed out") {
  using Catch::Matchers::ContainsSubstring;
  CHECK_THAT(stop_mode_text(pgha::StopMode::Fast), ContainsSubstring("fast") && !ContainsSubstring("smart"));
  CHECK_THAT(stop_mode_text(pgha::StopMode::Immediate), ContainsSubstring("immediate"));
  CHECK_THAT(stop_mode_text(pgha::StopMode::Smart), ContainsSubstring("waits for clients"));
}

TEST_CASE("options pgha cannot honour are rejected before anything is created") {
  using Catch::Matchers::ContainsSubstring;
  pgha::Options o;
  o.settings["port"] = "5433";
  CHECK_THROWS_WITH(validate(o), ContainsSubstring("owned by pgha") && ContainsSubstring("port"));
  pgha::Options a;
  a.application_name = std::string(64, 'a');
  CHECK_THROWS_WITH(validate(a), ContainsSubstring("64 bytes") && ContainsSubstring("63"));
  a.application_name = "caf\xc3\xa9";
  CHECK_THROWS_WITH(validate(a), ContainsSubstring("printable ASCII"));
  a.application_name = "standby 1's = ok";
  CHECK_NOTHROW(validate(a));
}

TEST_CASE("a cascading standby is named explicitly, never by a copy constructor") {
  STATIC_REQUIRE_FALSE(std::is_copy_constructible<pgha::TempStandby>::value);
  STATIC_REQUIRE(std::is_constructible<pgha::TempStandby, pgha::Upstream>::value);
  STATIC_REQUIRE(std::is_nothrow_move_constructible<pgha::TempStandby>::value);
}

TEST_CASE("the names of a synchronous_standby_names value, as the server reads them") {
  CHECK(sync_name_list("FIRST 2 (standby1, standby2, primary)") ==
        std::vector<std::string>{"standby1", "standby2", "primary"});
  CHECK(sync_name_list("ANY 1 (\"a b\", \"it\"\"s\", c_3)") ==
        std::vector<std::string>{"a b", "it\"s", "c_3"});
  CHECK(sync_name_list("pgslave001") == std::vector<std::string>{"pgslave001"});
  CHECK(sync_name_list("2 (s1, s2)") == std::vector<std::string>{"s1", "s2"});
  CHECK(lists_standby("FIRST 1 (Standby1, primary)", "standby1"));
  CHECK(lists_standby("*", "anything"));
  CHECK_FALSE(lists_standby("FIRST 1 (standby10)", "standby1"));
  CHECK_FALSE(lists_standby("", "standby1"));
  CHECK(sync_name_list("first 1 (s1)") == std::vector<std::string>{"s1"});
  CHECK(sync_name("ANY") == "\"ANY\"");
  CHECK(sync_name("S_1") == "S_1");
  CHECK(pgha::detail::ascii_lower("Ab_Z9\xc3\x89") == "ab_z9\xc3\x89");
}

// Known answers from independent implementations: FIPS 180-2 and RFC 4231 for SHA-256 and
// HMAC; the secrets were computed with Python's hashlib.pbkdf2_hmac/hmac (the RFC 7677
// example's password and salt), in PostgreSQL's pg_authid format.
TEST_CASE("SCRAM secrets are computed as PostgreSQL and RFC 7677 define them") {
  auto hex = [](const std::string& s) {
    static const char* h = "0123456789abcdef";
    std::string o;
    for (unsigned char c : s) { o += h[c >> 4]; o += h[c & 15]; }
    return o;
  };
  CHECK(hex(Sha256::of("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(Sha256::of("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(Sha256::of(std::string(1000, 'a'))) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hex(hmac_sha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  std::string rfc_salt = "\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12\x36\xfa\x81";  // W22ZaJ0SNY7soEsUEjb6gQ==
  CHECK(base64(rfc_salt) == "W22ZaJ0SNY7soEsUEjb6gQ==");
  CHECK(scram_secret("pencil", rfc_salt, 4096) ==
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  CHECK(scram_secret("pencil", "0123456789abcdef", 16) ==
        "SCRAM-SHA-256$16:MDEyMzQ1Njc4OWFiY2RlZg==$j5baxYnYIG9NH96gtxGdFE58m4H4f3D/dsTbbQI8L4I=:"
        "oRW4bBOrpjjRUoy5EAvQXSZ269bGhKz8rab0IGwu4yY=");
  // A fresh salt each time: two secrets of one password differ.
  std::string a = scram_secret("pencil"), b = scram_secret("pencil");
  CHECK(a != b);
  CHECK(a.rfind("SCRAM-SHA-256$16:", 0) == 0);
}
