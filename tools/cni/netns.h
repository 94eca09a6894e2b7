/* netns.h - CHECK's look inside the container's network namespace. */
#ifndef OVLD_CNI_NETNS_H
#define OVLD_CNI_NETNS_H

#include "cni.h"

/* Moves the calling process into the namespace at path (for good). */
int cni_netns_enter(const char *path, cni_error *err);
/* In the current namespace: ifname exists, is up, holds cidr (and mac
 * when not NULL). 0, or -1 with err (code 105, CNI_ERR_CHECK). */
int cni_netns_check(const char *ifname, const char *cidr, const char *mac,
		    cni_error *err);

#endif
