// tests/integrations/subprocess.hpp: run this test binary again in a subprocess (a test
// case that fails on purpose, or a sequence of test cases in one process) and check the
// failure report pgha printed. Framework-free: Catch2 and GoogleTest tests share it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace pgha_test {

inline std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

/// '...' for sh.
inline std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// This binary with `args` (each quoted).
inline std::string self_cmd(const std::vector<std::string>& args) {
  std::string cmd = sh_quote(self_exe());
  for (const auto& a : args) cmd += " " + sh_quote(a);
  return cmd;
}

struct Output {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out, err, merged;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline int exit_code_of(int status) {
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Runs `cmd` twice: once with stdout and stderr apart (out, err), once with both into one
/// stream (merged), which keeps the order in which the two were written.
inline Output run_twice(const std::string& cmd) {
  Output o;
  char out_path[] = "/tmp/pgha-test-out-XXXXXX";
  char err_path[] = "/tmp/pgha-test-err-XXXXXX";
  int fo = ::mkstemp(out_path), fe = ::mkstemp(err_path);
  if (fo >= 0) ::close(fo);
  if (fe >= 0) ::close(fe);
  std::system((cmd + " >" + out_path + " 2>" + err_path).c_str());
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  std::remove(out_path);
  std::remove(err_path);
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (f) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) o.merged.append(buf, n);
    o.exit_code = exit_code_of(::pclose(f));
  }
  return o;
}

/// Runs `cmd` once with stdout and stderr into one stream; returns it, sets `exit_code`.
inline std::string run_merged(const std::string& cmd, int& exit_code) {
  std::string out;
  exit_code = -1;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  exit_code = exit_code_of(::pclose(f));
  return out;
}

/// The section of a pgha failure report whose heading names `port`: from its "---- pgha: "
/// heading to the next one; "" if none.
inline std::string section_for_port(const std::string& report, int port) {
  std::string key = "(port " + std::to_string(port) + ",";
  std::size_t pos = 0;
  while ((pos = report.find("---- pgha: ", pos)) != std::string::npos) {
    std::size_t eol = report.find('\n', pos);
    std::string heading = report.substr(pos, eol - pos);
    std::size_t next = report.find("---- pgha: ", pos + 1);
    if (heading.find(key) != std::string::npos)
      return report.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next;
  }
  return {};
}

/// Checks the report of the log demo: a failing test that made a primary and a standby, and
/// a node it destroyed before failing, and logged an error on each (pgha_primary_marker,
/// pgha_standby_marker, pgha_gone_marker); its failure message says "pgha-demo ports:
/// primary=P standby=S gone=G". Returns what is wrong (empty: all good).
inline std::vector<std::string> check_demo_report(const Output& o) {
  std::vector<std::string> bad;
  if (o.exit_code == 0) bad.push_back("the failing test exited 0");
  std::smatch m;
  std::regex ports("pgha-demo ports: primary=([0-9]+) standby=([0-9]+) gone=([0-9]+)");
  if (!std::regex_search(o.out, m, ports)) {
    bad.push_back("no \"pgha-demo ports:\" in the failure report on stdout");
    return bad;
  }
  int primary = std::stoi(m[1]), standby = std::stoi(m[2]), gone = std::stoi(m[3]);
  const char* header = "pgha: server logs of the nodes";
  // stdout: the test framework's report only.
  for (const char* s : {header, "---- pgha: ", "pgha_primary_marker", "pgha_standby_marker",
                        "pgha_gone_marker", "ready to accept connections"})
    if (o.out.find(s) != std::string::npos)
      bad.push_back(std::string("stdout holds \"") + s + "\"");
  // stderr: each node's section, named by its own port, with its own log.
  if (o.err.find(header) == std::string::npos) bad.push_back("stderr has no server logs");
  struct Want { const char* what; int port; const char* marker; const char* state; };
  for (const Want& w : {Want{"primary", primary, "pgha_primary_marker", ""},
                        Want{"standby", standby, "pgha_standby_marker", ""},
                        Want{"destroyed node", gone, "pgha_gone_marker", "destroyed during the test"}}) {
    std::string sec = section_for_port(o.err, w.port);
    if (sec.empty()) {
      bad.push_back(std::string("stderr has no section for the ") + w.what + " (port " +
                    std::to_string(w.port) + ")");
      continue;
    }
    if (sec.find(w.marker) == std::string::npos)
      bad.push_back(std::string("the ") + w.what + "'s section lacks " + w.marker);
    if (sec.find(w.state) == std::string::npos)
      bad.push_back(std::string("the ") + w.what + "'s section does not say \"" + w.state + "\"");
  }
  // The event timeline (pgha/events.hpp), on stderr only: each node's creation names its
  // port; the standby was cloned and became ready; the timeline comes after the report.
  const char* tl_head = "pgha: event timeline of the failed test";
  if (o.out.find(tl_head) != std::string::npos || o.out.find(" create: created") != std::string::npos)
    bad.push_back("stdout holds the event timeline");
  std::size_t tl = o.err.find(tl_head);
  if (tl == std::string::npos) {
    bad.push_back("stderr has no event timeline");
  } else {
    std::size_t tl_end = o.err.find("---- pgha: end of event timeline ----", tl);
    std::string timeline = o.err.substr(tl, tl_end == std::string::npos ? std::string::npos : tl_end - tl);
    for (int port : {primary, standby, gone})
      if (!std::regex_search(timeline, std::regex(" create: created .*port " + std::to_string(port) + "\\b")))
        bad.push_back("the event timeline has no creation of the node on port " + std::to_string(port));
    for (const char* step : {" start: started as primary", " clone: cloned from ", " ready: streaming on timeline 1"})
      if (timeline.find(step) == std::string::npos)
        bad.push_back(std::string("the event timeline lacks \"") + step + "\"");
    // The application's own note (pgha::annotate), in its own lane.
    if (timeline.find(" orders-service note: pgha_annotate_marker: retrying after 57P01") == std::string::npos)
      bad.push_back("the event timeline lacks the annotate() note of orders-service");
    if (!std::regex_search(timeline, std::regex("\\+[0-9]+\\.[0-9]{3}s node[0-9]+ start: .*\\([0-9]+ (ms|us)\\)")))
      bad.push_back("the event timeline shows no start with its duration");
    std::size_t report_at = o.merged.find("pgha-demo ports:"), tl_at = o.merged.find(tl_head);
    if (report_at == std::string::npos || tl_at == std::string::npos || tl_at < report_at)
      bad.push_back("in the merged output the event timeline does not come after the failure report");
  }
  // Order, in one stream: the failure report first, then the logs.
  std::size_t report = o.merged.find("pgha-demo ports:"), logs = o.merged.find(header);
  if (report == std::string::npos || logs == std::string::npos || logs < report)
    bad.push_back("in the merged output the server logs do not come after the failure report");
  return bad;
}

/// All of `problems` and the output, for a failure message.
inline std::string explain(const std::vector<std::string>& problems, const Output& o) {
  std::string s;
  for (const auto& p : problems) s += "- " + p + "\n";
  return s + "==== stdout ====\n" + o.out + "==== stderr ====\n" + o.err + "==== merged ====\n" +
         o.merged;
}

}  // namespace pgha_test
