// SPDX-License-Identifier: Apache-2.0
//
// Host directories as the trees of `veil snapshot DIR IMG` and `veil
// restore IMG DIR` (overlay/snapshot/tree.h): the image is written straight
// from the host files and applied straight into the host directory, with
// no copy of the tree in a veil tmpfs in between.
//
// Every call is relative to a directory descriptor and never follows a
// symlink (xattrs, which have no *at() calls, go by path with the l*
// variants). A directory holds one host descriptor while it is in use:
// the writer keeps the directories waiting in its breadth-first queue
// open, the restore every directory until the end (it sets their
// metadata last), so a tree needs about as many descriptors as it has
// directories (RaiseFdLimit in snapshot_cli.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "overlay/snapshot/error.h"
#include "overlay/snapshot/tree.h"

namespace veil::tools {

// Reads the tree under host directory `dir`. Files are opened O_NOATIME
// where the host allows, so their atimes stay as they were.
snapshot::SnapshotResult<std::unique_ptr<snapshot::SourceDir>> HostSource(
    const std::string& dir);

// Creates in host directory `dir`. Run as non-root, the host refuses
// chown to other users, device nodes and trusted.* xattrs: those are
// skipped with a warning on stderr (the first few named) and counted in
// `*skipped` (borrowed; must outlive the target), and the rest of the
// tree is still written.
snapshot::SnapshotResult<std::unique_ptr<snapshot::TargetDir>> HostTarget(
    const std::string& dir, uint64_t* skipped);

}  // namespace veil::tools
