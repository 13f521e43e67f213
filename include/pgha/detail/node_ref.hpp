// pgha/detail/node_ref.hpp: a node that an object refers to but does not own (a
// FailoverGuard's two nodes, a Partition's members, an Endpoint's list). A Node object may
// be destroyed or moved from before its holder goes, so the holder keeps neither a Node*
// nor a NodeState*, but the node's identity in detail::live_nodes() (the address of its
// state's directory and the serial it got there), and reaches the node only through it:
// - alive(): whether the node still exists (a check under the registry's lock);
// - pin(what): the node's state, kept alive until the Pin goes: a destruction on another
//   thread waits in its first step (LiveNodes::retire) for the call in progress; a node
//   already gone (or going) is a StateError naming it and `what`, never a dangling access.
// The handle outlives its node safely: its name is copied when it is made.
//
// Use (a holder's member call):
//   detail::NodeRef ref_{detail::NodeAccess::of(node)};
//   auto p = ref_.pin("Partition::heal");   // throws StateError if the node was destroyed
//   p->topo() ... ;                          // the state, alive while `p` lives
// or, for an observer that must not wait (a relay thread): ref_.visit([&](NodeState& s) {...})
// runs under the registry's lock (try_lock the node's mutex only) and returns false if gone.
// Partition (and any holder of several nodes): keep a std::vector<NodeRef> instead of
// NodeState* plus (id, serial) pairs. Setting a cut: `auto p = ref.pin("Partition");` then
// lock p->mutex() and act on p->topo(); healing in the destructor: skip a node whose
// `ref.alive()` is false, else pin it (a pin that throws there = destroyed meanwhile: skip),
// so the serial check and the node's use happen under one pin, never check-then-lock.
#pragma once

#include <cstdint>
#include <string>

#include "pgha/detail/live_nodes.hpp"
#include "pgha/error.hpp"

namespace pgha::detail {

// The handle needs only the state's address: a public header that holds a NodeRef (a
// FailoverGuard, a Partition) does not pull in the node's whole state (the separate
// compilation mode keeps it out of user TUs). The constructor is defined in node_state.hpp.
class NodeState;

class NodeRef {
public:
  NodeRef() = default;
  inline explicit NodeRef(NodeState& st);  // node_state.hpp

  /// The node's name when the handle was made (readable after the node is gone).
  const std::string& name() const noexcept { return name_; }
  /// Whether the node still exists (and is not being destroyed).
  bool alive() const { return st_ && live_nodes().visit(id_, serial_, [] {}); }
  /// Whether both handles name the same node.
  bool same(const NodeRef& o) const noexcept { return id_ == o.id_ && serial_ == o.serial_; }

  /// Runs f(NodeState&) under the registry's lock if the node is alive; false if not. `f`
  /// must not block on the node (try_lock only): the registry is locked meanwhile.
  template <class F>
  bool visit(F&& f) const {
    return st_ && live_nodes().visit(id_, serial_, [&] { f(*st_); });
  }

  /// The node's state, pinned while this object lives.
  class Pin {
  public:
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    Pin(Pin&& o) noexcept : st_(o.st_), id_(o.id_), serial_(o.serial_) { o.st_ = nullptr; }
    Pin& operator=(Pin&&) = delete;
    ~Pin() {
      if (st_) live_nodes().unpin(id_, serial_);
    }
    NodeState& operator*() const noexcept { return *st_; }
    NodeState* operator->() const noexcept { return st_; }

  private:
    friend class NodeRef;
    Pin(NodeState* st, const void* id, std::uint64_t serial) : st_(st), id_(id), serial_(serial) {}
    NodeState* st_;
    const void* id_;
    std::uint64_t serial_;
  };

  /// Pins the node for one call (`what` names it in the error): throws StateError if the
  /// node was destroyed (or is being destroyed) or the handle is empty.
  Pin pin(const std::string& what) const {
    if (!st_ || !live_nodes().pin(id_, serial_))
      throw StateError(what + ": node " + (name_.empty() ? std::string("(none)") : name_) +
                       " was destroyed (or is being destroyed) while this handle still referred to "
                       "it; expected the node to outlive its holder (declare the node before it)",
                       name_);
    return Pin(st_, id_, serial_);
  }

private:
  NodeState* st_ = nullptr;  // never dereferenced unless the registry says it is alive
  const void* id_ = nullptr;
  std::uint64_t serial_ = 0;
  std::string name_;
};

}  // namespace pgha::detail
