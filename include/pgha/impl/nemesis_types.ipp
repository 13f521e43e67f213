// The definitions of pgha/nemesis_types.hpp's non-template functions. Header-only: included
// at the end of the header (PGHA_DECL is `inline`). Separate compilation: compiled once, by
// pgha/implementation.hpp.
#pragma once

#include "pgha/nemesis_types.hpp"

namespace pgha {

PGHA_DECL const char* to_string(Fault f) noexcept {
  switch (f) {
    case Fault::Crash: return "crash";
    case Fault::Stop: return "stop";
    case Fault::Freeze: return "freeze";
    case Fault::FreezeWalsender: return "freeze_walsender";
    case Fault::FreezeWalreceiver: return "freeze_walreceiver";
    case Fault::PauseReplay: return "pause_replay";
    case Fault::CutLink: return "cut_link";
    case Fault::DelayLink: return "delay_link";
    case Fault::Partition: return "partition";
    case Fault::Failover: return "failover";
    case Fault::ClientReset: return "client_reset";
  }
  return "?";
}

PGHA_DECL const char* enum_name(Fault f) noexcept {
  switch (f) {
    case Fault::Crash: return "Crash";
    case Fault::Stop: return "Stop";
    case Fault::Freeze: return "Freeze";
    case Fault::FreezeWalsender: return "FreezeWalsender";
    case Fault::FreezeWalreceiver: return "FreezeWalreceiver";
    case Fault::PauseReplay: return "PauseReplay";
    case Fault::CutLink: return "CutLink";
    case Fault::DelayLink: return "DelayLink";
    case Fault::Partition: return "Partition";
    case Fault::Failover: return "Failover";
    case Fault::ClientReset: return "ClientReset";
  }
  return "?";
}

PGHA_DECL std::ostream& operator<<(std::ostream& o, Fault f) { return o << enum_name(f); }

}  // namespace pgha
