// SPDX-License-Identifier: MIT
/*
 * cmpfs's signals. libfuse's handlers would end the session on SIGTERM,
 * SIGINT or SIGHUP and then detach the mount lazily: the daemon exits
 * while a loop device (swap) or open files still use its files, and their
 * data goes with it. Here one thread takes those signals with sigwait()
 * (they are blocked in every other thread: the mask is set before any
 * thread starts and threads inherit it):
 *
 *   SIGTERM, SIGINT  unmount as umount(8) does. A busy mount (open files,
 *                    a working directory, a loop device, swap) is not
 *                    unmounted: one line says why, and cmpfs keeps
 *                    serving. Once unmounted, the FUSE loop ends and
 *                    cmpfs exits 0.
 *   SIGHUP           reloads the cluster key file, or says there is none;
 *                    never stops cmpfs.
 *
 * Before the mount is up nothing can be lost: SIGTERM and SIGINT then
 * end the process as they would by default. Once it is gone they change
 * nothing: cmpfs is leaving the cluster, and the blocks it holds for
 * other nodes must move elsewhere before it exits (pool/cluster-drain.c).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "cmp/auth.h"
#include "cmp/log.h"
#include "fs.h"

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void fs_signals_block(void)
{
	sigset_t set;

	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* a peer that closes its socket must not kill us */
	signal(SIGPIPE, SIG_IGN);
}

/* Is the swap device dev (/dev/loopN) active? */
static bool swap_active(const char *dev)
{
	char line[512], name[256];
	bool on = false;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return false;
	while (!on && fgets(line, sizeof(line), f))
		on = sscanf(line, "%255s", name) == 1 && !strcmp(name, dev);
	fclose(f);
	return on;
}

/*
 * Why a mount that umount2() called busy is busy, into buf: the loop
 * devices on its files (and whether they carry swap) when there are,
 * else open files or working directories.
 */
static void busy_reason(const char *mountpoint, char *buf, size_t len)
{
	size_t n = 0, ml = strlen(mountpoint);
	DIR *d = opendir("/sys/block");
	struct dirent *de;

	buf[0] = '\0';
	while (d && (de = readdir(d)) && n < len) {
		char path[PATH_MAX], file[PATH_MAX], dev[300];
		FILE *f;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(file, sizeof(file), f))
			file[0] = '\0';
		fclose(f);
		file[strcspn(file, "\n")] = '\0';
		if (strncmp(file, mountpoint, ml) || file[ml] != '/')
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", de->d_name);
		n += (size_t)snprintf(
			buf + n, len - n, "%s%s on %s%s", n ? ", " : "", dev,
			file, swap_active(dev) ? " is active swap" : "");
	}
	if (d)
		closedir(d);
	if (!buf[0])
		snprintf(buf, len, "files open or working directories in it");
}

/*
 * Is our mount covered by another one on the same mount point (-o
 * stack)? umount2() would take that one instead.
 */
static bool covered(const struct fs_signals *s)
{
	struct fs_mount_top top;

	return s->have_dev && !fs_mount_top(s->mountpoint, &top) &&
	       (top.maj != s->maj || top.min != s->min);
}

static void unmount(struct fs_signals *s, int sig)
{
	const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
	char why[1024];
	sigset_t set;

	pthread_mutex_lock(&s->lock);
	if (s->state == FS_STOPPING) {
		pthread_mutex_unlock(&s->lock);
		/* a leaving node stops once others' blocks are elsewhere */
		log_info("%s: unmounted already, stopping (after moving what "
			 "it holds for other nodes, if anything)",
			 name);
		return;
	}
	if (s->state == FS_STARTING) {
		pthread_mutex_unlock(&s->lock);
		/* nothing mounted, nothing to lose: die as by default */
		log_info("%s before the mount is up: stopping", name);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		return;
	}
	/* Not lazily: a busy mount stays, and so do we. */
	if (covered(s)) {
		log_warn("%s: not unmounting %s, another mount covers it: "
			 "still serving; unmount that one first",
			 name, s->mountpoint);
	} else if (!umount2(s->mountpoint, 0)) {
		log_info("%s: unmounted %s", name, s->mountpoint);
	} else if (errno == EBUSY) {
		busy_reason(s->mountpoint, why, sizeof(why));
		log_warn("%s: not unmounting %s, it is busy (%s): still "
			 "serving; unmount it when it is free",
			 name, s->mountpoint, why);
	} else {
		log_error("%s: cannot unmount %s: %s: still serving", name,
			  s->mountpoint, strerror(errno));
	}
	pthread_mutex_unlock(&s->lock);
}

static void *signals_main(void *arg)
{
	struct fs_signals *s = arg;
	sigset_t set;
	int sig;

	stop_signals(&set);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (atomic_load(&s->stop))
			return NULL;
		if (sig != SIGHUP)
			unmount(s, sig);
		else if (s->keyring)
			auth_keyring_reload(s->keyring); /* logs one line */
		else
			log_info("SIGHUP: no key file to reload (mounted "
				 "without key=); still serving");
	}
}

int fs_signals_start(struct fs_signals *s, struct auth_keyring *keyring,
		     const char *mountpoint)
{
	int ret;

	s->keyring = keyring;
	s->mountpoint = mountpoint;
	s->state = FS_STARTING;
	atomic_store(&s->stop, false);
	pthread_mutex_init(&s->lock, NULL);
	ret = -pthread_create(&s->thread, NULL, signals_main, s);
	if (ret) {
		log_error("cannot start the signal thread: %s", strerror(-ret));
		pthread_mutex_destroy(&s->lock);
		return ret;
	}
	s->running = true;
	return 0;
}

void fs_signals_set_state(struct fs_signals *s, enum fs_state state)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_mutex_unlock(&s->lock);
}

int fs_signals_mount(struct fs_signals *s, struct fuse_session *se)
{
	struct fs_mount_top top = {0};
	int ret;

	/* A signal that comes meanwhile waits: the mount is its to undo. */
	pthread_mutex_lock(&s->lock);
	ret = fuse_session_mount(se, s->mountpoint);
	if (!ret) {
		s->state = FS_MOUNTED;
		/* ours is the newest mount there, for now */
		s->have_dev = !fs_mount_top(s->mountpoint, &top);
		s->maj = top.maj;
		s->min = top.min;
	}
	pthread_mutex_unlock(&s->lock);
	return ret ? -EIO : 0;
}

void fs_signals_stop(struct fs_signals *s)
{
	if (!s->running)
		return;
	atomic_store(&s->stop, true);
	pthread_kill(s->thread, SIGHUP);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	s->running = false;
}
