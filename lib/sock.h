/* SPDX-License-Identifier: BSD-2-Clause */
/* Unix stream sockets shared by the daemons and their clients. */
#ifndef XLB_SOCK_H
#define XLB_SOCK_H

/* Connect to the Unix stream socket at path (close-on-exec). Returns the fd
 * or -errno (-ENAMETOOLONG if path does not fit in sun_path). */
int xlb_unix_connect(const char *path);

#endif
