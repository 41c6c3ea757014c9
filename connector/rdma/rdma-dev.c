// SPDX-License-Identifier: MIT
/*
 * What the connections of one RDMA device share: a protection domain, the
 * device's limits and whether it has type 2 memory windows, and the MRs of
 * the regions registered with conn_rma_register(). A window must live in
 * the PD of the QP it is bound to and of the MR it covers, so connections
 * share the PD, and a provider's region is registered once per device
 * (local access and MW_BIND only: no remote rights on the MR itself; a
 * peer reaches memory only through a window granted on its connection).
 *
 * A region is registered on a device when the first connection on it
 * authenticates (or at once when one already has), never for a stranger
 * that only connected. Lock: devs_lock protects the device list, the
 * region table and every rdma_dev field above `verbs`; the rest of an
 * rdma_dev never changes after creation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/log.h"
#include "cmp/util.h"
#include "rdma-internal.h"

static pthread_mutex_t devs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rdma_dev *devs;
static struct {
	char *base; /* NULL: free slot */
	size_t len;
} regions[RDMA_MAX_REGIONS];

static bool has_mw(const struct ibv_device_attr *a)
{
	return a->max_mw > 0 &&
	       (a->device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A |
				       IBV_DEVICE_MEM_WINDOW_TYPE_2B));
}

static struct rdma_dev *dev_create(struct ibv_context *verbs, const char *who)
{
	struct ibv_device_attr attr;
	struct rdma_dev *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->verbs = verbs;
	snprintf(d->name, sizeof(d->name), "%s",
		 verbs->device ? verbs->device->name : "rdma");
	d->iwarp = verbs->device &&
		   verbs->device->transport_type == IBV_TRANSPORT_IWARP;
	ret = ibv_query_device(verbs, &attr);
	if (ret) {
		log_error_rl("%s: ibv_query_device(%s): %s", who, d->name,
			     strerror(ret));
		goto err_free;
	}
	d->mw = has_mw(&attr);
	d->rd_atom = (uint8_t)MIN(RDMA_RD_ATOMIC, attr.max_qp_rd_atom);
	d->init_rd_atom =
		(uint8_t)MIN(RDMA_RD_ATOMIC, attr.max_qp_init_rd_atom);
	d->pd = ibv_alloc_pd(verbs);
	if (!d->pd) {
		ret = errno ? errno : EIO;
		log_error_rl("%s: ibv_alloc_pd(%s): %s", who, d->name,
			     strerror(ret));
		goto err_free;
	}
	return d;

err_free:
	free(d);
	errno = ret;
	return NULL;
}

struct rdma_dev *conn_rdma_dev_get(struct ibv_context *verbs, const char *who)
{
	struct rdma_dev *d;

	pthread_mutex_lock(&devs_lock);
	for (d = devs; d; d = d->next)
		if (d->verbs == verbs)
			break;
	if (!d) {
		d = dev_create(verbs, who);
		if (d) {
			d->next = devs;
			devs = d;
		}
	}
	if (d)
		d->refs++;
	pthread_mutex_unlock(&devs_lock);
	return d;
}

static bool dev_holds_regions_locked(const struct rdma_dev *d)
{
	for (size_t i = 0; i < RDMA_MAX_REGIONS; i++)
		if (d->mr[i])
			return true;
	return false;
}

/* Frees the devices no connection and no region needs; list lock held. */
static void dev_reap_locked(void)
{
	struct rdma_dev **p = &devs;

	while (*p) {
		struct rdma_dev *d = *p;

		if (d->refs || dev_holds_regions_locked(d)) {
			p = &d->next;
			continue;
		}
		*p = d->next;
		ibv_dealloc_pd(d->pd);
		free(d);
	}
}

void conn_rdma_dev_put(struct rdma_dev *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&devs_lock);
	d->refs--;
	dev_reap_locked();
	pthread_mutex_unlock(&devs_lock);
}

/*
 * A failure is logged once per device and region; grants there answer
 * -EOPNOTSUPP and the callers use messages. The access flags stay literal:
 * see reg_buffer() in rdma-setup.c.
 */
static void register_locked(struct rdma_dev *d, size_t i)
{
	int err;

	if (d->mr[i] || d->reg_failed[i] || !regions[i].base)
		return;
	d->mr[i] = ibv_reg_mr(d->pd, regions[i].base, regions[i].len,
			      IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
	if (d->mr[i])
		return;
	err = errno ? errno : EIO;
	d->reg_failed[i] = true;
	log_error("rdma: %s: ibv_reg_mr(region of %zu bytes at %p): %s%s; "
		  "blocks there travel as messages",
		  d->name, regions[i].len, (void *)regions[i].base,
		  strerror(err), conn_rdma_memlock_hint(err));
}

void conn_rdma_dev_authenticated(struct rdma_dev *d)
{
	pthread_mutex_lock(&devs_lock);
	d->authed = true;
	for (size_t i = 0; i < RDMA_MAX_REGIONS; i++)
		register_locked(d, i);
	pthread_mutex_unlock(&devs_lock);
}

int conn_rdma_dev_region(struct rdma_dev *d, const void *p, size_t len,
			 struct ibv_mr **mr)
{
	const char *q = p;
	int ret = -EINVAL;

	pthread_mutex_lock(&devs_lock);
	for (size_t i = 0; i < RDMA_MAX_REGIONS; i++) {
		const char *base = regions[i].base;

		if (!base || q < base || len > regions[i].len ||
		    (size_t)(q - base) > regions[i].len - len)
			continue;
		*mr = d->mr[i];
		ret = d->mr[i] ? 0 : -EOPNOTSUPP;
		break;
	}
	pthread_mutex_unlock(&devs_lock);
	return ret;
}

int conn_rdma_dev_no_mw(struct rdma_dev *d)
{
	bool first;

	pthread_mutex_lock(&devs_lock);
	first = !d->mw_logged;
	d->mw_logged = true;
	pthread_mutex_unlock(&devs_lock);
	if (first)
		log_warn("rdma: device %s has no type 2 memory windows: lent "
			 "blocks travel as two-sided messages, not one-sided",
			 d->name);
	return -EOPNOTSUPP;
}

int conn_rdma_rma_register(void *base, size_t len)
{
	size_t i, slot = RDMA_MAX_REGIONS;
	char *b = base;

	if (!base || !len)
		return -EINVAL;
	pthread_mutex_lock(&devs_lock);
	for (i = 0; i < RDMA_MAX_REGIONS; i++) {
		if (regions[i].base && b < regions[i].base + regions[i].len &&
		    regions[i].base < b + len) {
			pthread_mutex_unlock(&devs_lock);
			log_error("rdma: region %p+%zu overlaps one registered "
				  "already",
				  base, len);
			return -EEXIST;
		}
		if (!regions[i].base && slot == RDMA_MAX_REGIONS)
			slot = i;
	}
	if (slot == RDMA_MAX_REGIONS) {
		pthread_mutex_unlock(&devs_lock);
		log_error("rdma: more than %d regions registered",
			  RDMA_MAX_REGIONS);
		return -ENOSPC;
	}
	regions[slot].base = b;
	regions[slot].len = len;
	for (struct rdma_dev *d = devs; d; d = d->next) {
		d->reg_failed[slot] = false;
		if (d->authed)
			register_locked(d, slot);
	}
	pthread_mutex_unlock(&devs_lock);
	return 0;
}

int conn_rdma_rma_unregister(void *base)
{
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&devs_lock);
	for (i = 0; i < RDMA_MAX_REGIONS; i++)
		if (base && regions[i].base == base)
			break;
	if (i == RDMA_MAX_REGIONS) {
		pthread_mutex_unlock(&devs_lock);
		return -ENOENT;
	}
	for (struct rdma_dev *d = devs; d && !ret; d = d->next) {
		if (!d->mr[i])
			continue;
		/* Fails (EBUSY) while a window over it is still bound. */
		ret = -ibv_dereg_mr(d->mr[i]);
		if (ret)
			log_error("rdma: %s: ibv_dereg_mr(region at %p): %s",
				  d->name, base, strerror(-ret));
		else
			d->mr[i] = NULL;
	}
	if (!ret) {
		regions[i].base = NULL;
		regions[i].len = 0;
		dev_reap_locked();
	}
	pthread_mutex_unlock(&devs_lock);
	return ret;
}
