// examples/teaching.hpp: the printing helpers every example shares. An example prints
// its steps with the elapsed time, like the walkthrough document, and checks what it
// demonstrates with expect(): the program exits non-zero when a check failed.
#pragma once

#include <chrono>
#include <iostream>
#include <string>

namespace teaching {

inline const auto t0 = std::chrono::steady_clock::now();
inline bool ok = true;  // false once an expectation failed

// "[123 ms] == text"
inline void step(const std::string& text) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "\n[" << ms.count() << " ms] == " << text << "\n";
}

// Prints "ok:" or "FAILED:" and remembers a failure.
inline void expect(bool cond, const std::string& what) {
  std::cout << (cond ? "  ok: " : "  FAILED: ") << what << "\n";
  if (!cond) ok = false;
}

}  // namespace teaching
