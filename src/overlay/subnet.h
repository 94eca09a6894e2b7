/* subnet.h - subnet and VNI claims, used by network creation (private to
 * src/overlay). */
#ifndef OVLD_OVERLAY_SUBNET_H
#define OVLD_OVERLAY_SUBNET_H

#include "internal.h"

/* Claims every /24 block of net/prefix for nid; cidr is for the error. */
int ovl_subnet_claim(ovl *o, ovl_claims *cl, uint32_t net, int prefix,
		     const char *nid, const char *cidr, ovl_err *err);
/* Claims the first free /24 of the default pool. */
int ovl_subnet_alloc(ovl *o, ovl_claims *cl, const char *nid, uint32_t *net,
		     ovl_err *err);

/* Claims vni (or the lowest free one when *vni is 0) for nid, in ovld's
 * claims and Docker's bitmap. */
int ovl_vni_take(ovl *o, ovl_claims *cl, const char *nid, uint32_t *vni,
		 ovl_err *err);

#endif
