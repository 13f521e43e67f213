// tests/consumers/readme_snippet.cpp: the README's 30-second example as a program, built
// by each consumer project (find_package, add_subdirectory, FetchContent, pkg-config).
#include <pgha/pgha.hpp>
#include <iostream>
int main() {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int, name varchar(100))");
  node1.execute("insert into test values (1,'1')");
  pgha::Result r = node2.query("select id, name from test order by id");
  if (r.rows() != 1 || r.value(0, 1) != "1") return 1;
  node1.stop();
  node2.promote();
  auto p = node2.execute_async("insert into test values (2,'2')");
  if (p.wait_for(std::chrono::milliseconds(300))) return 2;
  node1.rejoin(node2);
  if (!p.wait_for(std::chrono::seconds(10))) return 3;
  { pgha::FailoverGuard guard(node2, node1); }
  std::cout << "consumer ok: " << node2.query("select count(*) from test").value(0, 0) << " rows\n";
  return node2.query("select count(*) from test").value(0, 0) == "2" ? 0 : 4;
}
