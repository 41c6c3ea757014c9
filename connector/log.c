// SPDX-License-Identifier: MIT
/*
 * The logger behind include/cmp/log.h. Kept in the connector library because
 * that is the bottom of the dependency chain: every program links it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cmp/log.h"
#include "cmp/util.h"

bool log_debug_on;
static enum log_level max_level = LOG_LVL_INFO;
static const char *prog = "cmp";
static bool to_syslog;
static bool tool_style;
static atomic_int error_echo_fd = -1; /* log_echo_errors() */

static const char *const level_name[] = {"error", "warning", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_init(const char *progname, enum log_level level)
{
	prog = progname;
	log_set_level(level);
}

void log_init_tool(const char *progname, enum log_level level)
{
	log_init(progname, level);
	tool_style = true;
}

void log_set_level(enum log_level level)
{
	max_level = level;
	log_debug_on = level >= LOG_LVL_DEBUG;
}

void log_echo_errors(int fd)
{
	atomic_store(&error_echo_fd, fd);
}

void log_use_syslog(void)
{
	openlog(prog, LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

/* The attribute lets the compiler check fmt is passed through untouched. */
__attribute__((format(printf, 2, 0))) void log_vmsg(enum log_level level,
						    const char *fmt, va_list ap)
{
	char buf[1024];
	int len, echo;
	int n;

	if (level > max_level || level > LOG_LVL_DEBUG)
		return;
	if (to_syslog) {
		vsyslog(syslog_prio[level], fmt, ap);
		return;
	}
	if (!tool_style)
		len = snprintf(buf, sizeof(buf), "%s[%d]: %s: ", prog,
			       (int)getpid(), level_name[level]);
	else if (level == LOG_LVL_WARN || level == LOG_LVL_DEBUG)
		len = snprintf(buf, sizeof(buf), "%s: %s: ", prog,
			       level_name[level]);
	else
		len = snprintf(buf, sizeof(buf), "%s: ", prog);
	if (len < 0 || len >= (int)sizeof(buf) - 1)
		return;
	n = vsnprintf(buf + len, sizeof(buf) - (size_t)len, fmt, ap);
	if (n > 0)
		len += n;
	/* Truncated lines keep their newline. */
	if (len >= (int)sizeof(buf) - 1)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	/* One write per line keeps lines from several threads whole. */
	if (write(STDERR_FILENO, buf, (size_t)len) < 0)
		return;
	echo = level == LOG_LVL_ERROR ? atomic_load(&error_echo_fd) : -1;
	if (echo >= 0 && write(echo, buf, (size_t)len) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* May a line go out now? Sets *dropped to the lines held back before it. */
static bool limit_allows(struct log_limit *rl, uint64_t *dropped)
{
	uint64_t now = cmp_now_ns(), start = atomic_load(&rl->window_ns);
	uint64_t window = (rl->window_s ? rl->window_s : 1) * 1000000000ull;

	if ((!start || now - start >= window) &&
	    atomic_compare_exchange_strong(&rl->window_ns, &start, now))
		atomic_store(&rl->lines, 0);
	if (atomic_fetch_add(&rl->lines, 1) >= LOG_LIMIT_BURST) {
		atomic_fetch_add(&rl->dropped, 1);
		return false;
	}
	*dropped = atomic_exchange(&rl->dropped, 0);
	return true;
}

void log_limited(struct log_limit *rl, enum log_level level, const char *fmt,
		 ...)
{
	uint64_t dropped;
	char buf[900];
	va_list ap;

	if (level > max_level || !limit_allows(rl, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (dropped)
		log_msg(level, "%s (%llu similar lines dropped)", buf,
			(unsigned long long)dropped);
	else
		log_msg(level, "%s", buf);
}
