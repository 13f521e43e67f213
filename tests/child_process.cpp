// tests/child_process.cpp: a separate test process for the leak and concurrency tests.
//   hold: creates a primary and a standby, prints "<dir> <pid> <dir> <pid>", waits to be killed
//   pair: creates a primary and a standby, writes on one, reads on the other, exits 0 if right
//   primary: creates a primary, prints "<dir> <pid>", waits to be killed (killed during its
//            initdb when PGHA_TMPDIR is empty: the template build is the first thing it does)
//   pgbouncer: creates a primary and a TempPgBouncer, prints "<dir> <pid> <dir> <pid>", waits
//              to be killed
//   faults: creates a primary, an Endpoint cut with LinkCut::Drop and exhausts the primary's
//           WAL space; prints "<dir> <pid> <relay port> <nft table>", waits to be killed
//   churn: creates and destroys a pair and a primary, then exits at once (0 if all went well):
//          what pgha does in the background (removals, the next template copy) must be
//          finished or undone by the time the process has exited
#include <pgha/pgha.hpp>
#include <pgha/detail/packet_drop.hpp>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <iostream>
#include <string>

namespace {
std::string dir(pgha::Node& n) { return boost::filesystem::path(n.data_dir()).parent_path().string(); }
}  // namespace

int main(int argc, char** argv) try {
  std::string mode = argc > 1 ? argv[1] : "pair";
  if (mode == "churn") {
    {
      pgha::TempPrimary a;
      pgha::TempStandby b(a);
    }
    pgha::TempPrimary c;
    c.execute("select 1");
    return 0;
  }
  pgha::TempPrimary node1;
  if (mode == "primary") {
    std::cout << dir(node1) << " " << node1.pid() << std::endl;
    for (;;) ::pause();
  }
  if (mode == "faults") {  // what the operating system holds for pgha: a drop rule, a mount
    pgha::Endpoint ep(node1);
    ep.link().cut(pgha::LinkCut::Drop);
    node1.exhaust_wal_space();
    std::cout << dir(node1) << " " << node1.pid() << " " << ep.port() << " "
              << pgha::detail::PacketDrop::table_name(::getpid()) << std::endl;
    for (;;) ::pause();
  }
  if (mode == "pgbouncer") {  // a primary and a PgBouncer in front of it, until killed
    pgha::TempPgBouncer b(node1);
    std::cout << dir(node1) << " " << node1.pid() << " "
              << boost::filesystem::path(b.log_file()).parent_path().string() << " " << b.pid()
              << std::endl;
    for (;;) ::pause();
  }
  pgha::TempStandby node2(node1);
  if (mode == "hold") {
    std::cout << dir(node1) << " " << node1.pid() << " " << dir(node2) << " " << node2.pid() << std::endl;
    for (;;) ::pause();
  }
  node1.execute("create table test (id int); insert into test values (1)");
  return node2.query("select count(*) from test").value(0, 0) == "1" ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "child failed: " << e.what() << "\n";
  return 2;
}
