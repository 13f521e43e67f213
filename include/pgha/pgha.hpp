// pgha/pgha.hpp: the umbrella header. PostgreSQL HA test fixtures: temporary primaries and
// synchronous standbys, failover, promote and rejoin, as RAII objects.
#pragma once

// Umbrella marker: lets a test prove that a header did not include the umbrella.
#define PGHA_DETAIL_UMBRELLA_INCLUDED 1

#include "pgha/cluster.hpp"
#include "pgha/connection.hpp"
#include "pgha/conninfo.hpp"
#include "pgha/endpoint.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/failover_guard.hpp"
#include "pgha/history.hpp"
#include "pgha/link.hpp"
#include "pgha/link_types.hpp"
#include "pgha/node.hpp"
#include "pgha/options.hpp"
#include "pgha/nemesis.hpp"
#include "pgha/partition.hpp"
#include "pgha/pending_query.hpp"
#include "pgha/pgbouncer.hpp"
#include "pgha/primary.hpp"
#include "pgha/slots.hpp"
#include "pgha/standby.hpp"
#include "pgha/timeline.hpp"
#include "pgha/version.hpp"
#include "pgha/workload.hpp"
