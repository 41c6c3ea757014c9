/* SPDX-License-Identifier: MIT */
/*
 * One small logger for every cmpfs program. One sink at a time: stderr while
 * in the foreground, syslog once a daemon has detached. Thread-safe: each
 * message is formatted into a stack buffer and written with one call.
 * Data-path debug lines sit behind `if (unlikely(log_debug_on))`.
 */
#ifndef CMP_LOG_H
#define CMP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern bool log_debug_on;

/* Names the program in every line; call once at start. */
void log_init(const char *progname, enum log_level level);
/*
 * For command-line tools (cmpctl): lines read "prog: message", warnings
 * "prog: warning: message", without the pid and level a daemon's carry.
 */
void log_init_tool(const char *progname, enum log_level level);
/* Switch the sink to syslog (after daemonizing). */
void log_use_syslog(void);
/*
 * Until called again with -1, error lines also go to fd (besides stderr):
 * a daemon whose log goes to a file keeps its terminal for the errors
 * that stop it from starting. Thread-safe; the caller owns fd (and
 * closes it after turning the echo off).
 */
void log_echo_errors(int fd);
void log_set_level(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/*
 * Rate limiting for lines a stranger or a failing peer can make us write
 * again and again (refused connections, bad frames, failed requests): per
 * call site, LOG_LIMIT_BURST lines per window (a second for log_*_rl),
 * then silence; the next line that gets through says how many were
 * dropped. Lock-free; the counts are approximate under races, never the
 * lines.
 *
 * log_*_flood are for lines anyone who can open a connection can trigger
 * as fast as it connects (connections refused or dropped before or during
 * the handshake, connection-level timeouts): their window is
 * LOG_FLOOD_WINDOW_S, so a flood writes at most LOG_LIMIT_BURST lines per
 * call site per window, whatever its rate.
 */
#define LOG_LIMIT_BURST 5
#define LOG_FLOOD_WINDOW_S 30
struct log_limit {
	_Atomic uint64_t window_ns; /* start of the current window */
	_Atomic uint32_t lines;	    /* written in it */
	_Atomic uint64_t dropped;   /* since the last line written */
	uint32_t window_s;	    /* 0: one second */
};
void log_limited(struct log_limit *rl, enum log_level level, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

#define log_error_rl(...) log_rl_(LOG_LVL_ERROR, 1, __VA_ARGS__)
#define log_warn_rl(...) log_rl_(LOG_LVL_WARN, 1, __VA_ARGS__)
#define log_info_rl(...) log_rl_(LOG_LVL_INFO, 1, __VA_ARGS__)
#define log_error_flood(...) \
	log_rl_(LOG_LVL_ERROR, LOG_FLOOD_WINDOW_S, __VA_ARGS__)
#define log_warn_flood(...) \
	log_rl_(LOG_LVL_WARN, LOG_FLOOD_WINDOW_S, __VA_ARGS__)
#define log_info_flood(...) \
	log_rl_(LOG_LVL_INFO, LOG_FLOOD_WINDOW_S, __VA_ARGS__)
#define log_rl_(level, secs, ...)                                 \
	do {                                                      \
		static struct log_limit rl_ = {.window_s = secs}; \
		log_limited(&rl_, level, __VA_ARGS__);            \
	} while (0)

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                       \
	do {                                                 \
		if (unlikely(log_debug_on))                  \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
