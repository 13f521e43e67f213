// pgha/detail/background.hpp: work that need not hold up the caller, done by one thread
// per process: removing the directories of destroyed nodes, and preparing the next copy of
// the template while the current node starts.
//
// - Removal: a destroyed node's directory is first renamed to <base>/pgha-gone-<n>-<name> (its
//   server is dead by then), so the node's own paths are gone at once; the tree (about
//   1,000 files, 24 MB on tmpfs: 10-20 ms) is removed here. Every such directory stays
//   registered with the watcher (reaper.hpp) until it is removed, and is swept like a node
//   directory if both this process and its watcher die.
// - Spare copies: copying the template costs 20-30 ms per node. After a node took a copy,
//   the next one is prepared here (<base>/pgha-spare-*/data), so the next node renames a
//   finished copy into place. A node that finds the copy still being made waits for it.
//
// At exit (atexit) the queue is drained and the thread joined: nothing is left behind. In
// a fork()ed child, and when no thread can be started, the work is done synchronously.
#pragma once

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/privilege.hpp"
#include "pgha/detail/reaper.hpp"

namespace pgha::detail {

class Background {
public:
  /// Removes `root` (a node directory whose server is stopped): renamed out of the way now,
  /// removed by the background thread. Never throws.
  void remove(const std::string& root) noexcept {
    try {
      std::size_t slash = root.rfind('/');
      static std::atomic<unsigned> serial{0};  // a node's data dir may go twice (re-clones)
      std::string gone = root.substr(0, slash + 1) + "pgha-gone-" + std::to_string(++serial) + "-" +
                         root.substr(slash + 1);
      if (here()) {
        reaper().track(gone);  // before the rename: covered at every moment
        if (::rename(root.c_str(), gone.c_str()) == 0) {
          reaper().forget(root);
          if (enqueue(Task{Task::Remove, gone, {}, {}, {}})) return;
          remove_tree(gone);
          reaper().forget(gone);
          return;
        }
        reaper().forget(gone);
      }
    } catch (...) {
    }
    remove_tree(root);
    reaper().forget(root);
  }

  /// Fills `data` (an existing, empty directory) with a copy of the template `tmpl`: the
  /// spare copy prepared for it if there is one (waiting for one being prepared), else
  /// copied here. Then prepares the next spare in the background. Throws SetupError.
  void fresh_copy(const std::string& tmpl, const std::string& base, const std::string& data,
                  const RunAs& ra) {
    if (!here()) {
      copy_template(tmpl, data, ra, 2);
      return;
    }
    std::string key = tmpl + '\n' + base;
    std::string spare;
    int wanted = spares_wanted_.load();
    {
      std::unique_lock<std::mutex> l(mu_);
      for (int i = 0; i < wanted && spare.empty(); ++i) {  // any finished spare first
        Spare* r = find(slot_key(key, i));
        if (r && r->state == Spare::Ready) {
          spare = r->root;
          r->state = Spare::None;
        }
      }
      auto* s = find(key);
      if (spare.empty() && s && s->state == Spare::Preparing && !thread_failed_) {  // bounded: it copies 24 MB
        ++waiting_;  // the thread works even while held (Hold)
        cv_.notify_all();
        cv_.wait_for(l, std::chrono::seconds(30), [&] { return s->state != Spare::Preparing; });
        --waiting_;
      }
      if (spare.empty() && s && s->state == Spare::Ready) {
        spare = s->root;
        s->state = Spare::None;
      }
    }
    bool taken = false;
    if (!spare.empty()) {
      // A directory replaces an empty one in a rename.
      taken = ::rename((spare + "/data").c_str(), data.c_str()) == 0;
      remove(spare);
    }
    if (!taken) copy_template(tmpl, data, ra, 2);
    for (int i = 0; i < wanted; ++i) prepare(slot_key(key, i), tmpl, base, ra);
  }

  /// Keeps `n` spare copies per template from now on (at most 4; never fewer than before):
  /// a TempCluster's standbys start at the same moment and each takes a finished one.
  void want_spares(int n) {
    if (n > 4) n = 4;
    int cur = spares_wanted_.load();
    while (n > cur && !spares_wanted_.compare_exchange_weak(cur, n)) {
    }
  }

  /// While one is alive, the thread starts no new task unless a node waits for a spare:
  /// a TempCluster's standbys start on both cores without a copy or a removal beside them.
  class Hold {
  public:
    Hold() : b_(&get()) {
      std::lock_guard<std::mutex> l(b_->mu_);
      ++b_->held_;
    }
    ~Hold() {
      std::lock_guard<std::mutex> l(b_->mu_);
      --b_->held_;
      b_->cv_.notify_all();
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

  private:
    Background* b_;
  };

  /// Waits (at most `limit`) until no task is queued or running; true if idle. For tests
  /// that count descriptors or threads.
  bool wait_idle(std::chrono::milliseconds limit) {
    if (!here()) return true;  // a fork()ed child has no background work
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, limit, [&] { return tasks_.empty() && !busy_; });
  }

  static Background& get() {
    static Background* b = new Background;  // never destroyed: drained at exit instead
    return *b;
  }

  // A fork() copies mu_ as it is: held, if the thread or a thread making a node had it
  // then, and nobody in the child would release it (its exit() would hang in drain()).
  Background() {
    instance() = this;
    ::pthread_atfork(nullptr, nullptr, [] {
      if (Background* b = instance()) {
        new (&b->mu_) std::mutex;
        new (&b->cv_) std::condition_variable;
      }
    });
  }

private:
  static Background*& instance() noexcept {
    static Background* b = nullptr;  // constant-initialized: safe in a fork handler
    return b;
  }

  struct Task {
    enum Kind { Remove, Copy } kind;
    std::string dir;   // Remove: the directory; Copy: the spare's key
    std::string tmpl, base;
    RunAs ra;
  };
  struct Spare {
    enum State { None, Preparing, Ready } state = None;
    std::string key, root;
  };

  bool here() const noexcept { return creator_ == 0 || creator_ == ::getpid(); }

  // The key of spare number `i` of a template (0: the template's own key).
  static std::string slot_key(const std::string& key, int i) {
    return i == 0 ? key : key + "\n#" + std::to_string(i);
  }

  Spare* find(const std::string& key) {
    for (auto& s : spares_)
      if (s.key == key) return &s;
    return nullptr;
  }

  void prepare(const std::string& key, const std::string& tmpl, const std::string& base,
               const RunAs& ra) {
    {
      std::lock_guard<std::mutex> l(mu_);
      Spare* s = find(key);
      if (!s) {
        spares_.push_back(Spare{});
        s = &spares_.back();
        s->key = key;
      }
      if (s->state != Spare::None) return;
      s->state = Spare::Preparing;
    }
    if (!enqueue(Task{Task::Copy, key, tmpl, base, ra})) {
      std::lock_guard<std::mutex> l(mu_);
      find(key)->state = Spare::None;
      cv_.notify_all();
    }
  }

  // Queues a task for the thread (started on first use). False if there is no thread.
  bool enqueue(Task t) {
    std::lock_guard<std::mutex> l(mu_);
    if (thread_failed_ || stopping_) return false;
    if (!worker_.joinable()) {
      try {
        creator_ = ::getpid();
        worker_ = std::thread([this] { run(); });
        std::atexit([] { get().drain(); });
      } catch (...) {
        thread_failed_ = true;
        return false;
      }
    }
    if (t.kind == Task::Copy) tasks_.push_front(std::move(t));  // someone may wait for it
    else tasks_.push_back(std::move(t));
    cv_.notify_all();
    return true;
  }

  void run() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return stopping_ || (!tasks_.empty() && (held_ == 0 || waiting_ > 0)); });
      if (tasks_.empty()) return;  // stopping, and nothing left
      Task t = std::move(tasks_.front());
      tasks_.pop_front();
      busy_ = true;
      l.unlock();
      if (t.kind == Task::Remove) {
        remove_tree(t.dir);
        reaper().forget(t.dir);
        l.lock();
      } else {
        std::string root = make_spare(t);
        l.lock();
        Spare* s = find(t.dir);
        if (s) {
          s->root = root;
          s->state = root.empty() ? Spare::None : Spare::Ready;
        }
        if (!root.empty() && (!s || stopping_)) {  // nobody will take it
          if (s) s->state = Spare::None;
          l.unlock();
          remove_tree(root);
          reaper().forget(root);
          l.lock();
        }
      }
      busy_ = false;
      cv_.notify_all();
    }
  }

  // A finished copy in <base>/pgha-spare-XXXXXX/data, or "" if it could not be made (the
  // node that wants one then copies the template itself, and reports what fails).
  static std::string make_spare(const Task& t) noexcept {
    std::string root;
    try {
      root = make_private_dir(t.base, "pgha-spare-", t.ra);
      reaper().watch(root, t.base);
      make_owned_dir(root + "/data", t.ra);
      copy_template(t.tmpl, root + "/data", t.ra, 1);  // one thread: the caller's work goes on
      return root;
    } catch (...) {
      if (!root.empty()) {
        remove_tree(root);
        reaper().forget(root);
      }
      return {};
    }
  }

  // At exit: the spares go, the queue is worked off, the thread is joined.
  void drain() noexcept {
    if (!here()) return;  // a fork()ed child: the thread and the queue are the parent's
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      for (auto& s : spares_)
        if (s.state == Spare::Ready) {
          tasks_.push_back(Task{Task::Remove, s.root, {}, {}, {}});
          s.state = Spare::None;
        }
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  std::deque<Spare> spares_;  // stable addresses
  std::thread worker_;
  std::atomic<pid_t> creator_{0};
  bool stopping_ = false;
  bool thread_failed_ = false;
  bool busy_ = false;  // a task is running
  int held_ = 0;       // Hold objects alive
  int waiting_ = 0;    // nodes waiting for a spare being prepared
  std::atomic<int> spares_wanted_{1};  // spare copies kept per template (want_spares)
};

inline Background& background() { return Background::get(); }

}  // namespace pgha::detail
