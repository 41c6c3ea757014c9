// SPDX-License-Identifier: MIT
/* Placeholder: filled in by the cluster work. */
