// SPDX-License-Identifier: MIT
/* CMP messages: filled in by the cluster work. */
