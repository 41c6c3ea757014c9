// SPDX-License-Identifier: MIT
/*
 * The table-driven option parser of include/cmp/opts.h. One parser for the
 * three daemons, so that an option is spelled, refused and documented the
 * same way everywhere: each refusal is one line naming the option and the
 * value, each program's --help is printed from the table it parses with.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmp-config.h"
#include "cmp/opts.h"
#include "cmp/util.h"
#include "conn-internal.h"

#define HELP_INDENT 26 /* column where the help text starts */
#define HELP_WIDTH 79

int opts_error(const struct opts_spec *spec, const char *name, const char *fmt,
	       ...)
{
	va_list ap;

	fprintf(stderr, "%s: option %s: ", spec->prog, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

static int no_memory(const struct opts_spec *spec)
{
	fprintf(stderr, "%s: out of memory\n", spec->prog);
	return -ENOMEM;
}

static bool takes_value(const struct opt_def *d)
{
	return d->type != OPT_FLAG && d->type != OPT_NOFLAG;
}

/* A field that holds a strdup()ed string. */
static bool is_string(const struct opt_def *d)
{
	return d->type == OPT_STR || d->type == OPT_ADDR ||
	       d->type == OPT_ADDR_LIST;
}

/* Names match with '-' and '_' alike: max-conns, -o max_conns. */
static bool same_name(const char *row, const char *name, size_t len)
{
	if (strlen(row) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char a = row[i] == '_' ? '-' : row[i];
		char b = name[i] == '_' ? '-' : name[i];

		if (a != b)
			return false;
	}
	return true;
}

static const struct opt_def *find_long(const struct opts_spec *spec,
				       const char *name, size_t len)
{
	for (size_t i = 0; i < spec->nopts; i++)
		if (same_name(spec->opts[i].name, name, len))
			return &spec->opts[i];
	return NULL;
}

static const struct opt_def *find_short(const struct opts_spec *spec, char c)
{
	for (size_t i = 0; i < spec->nopts; i++)
		if (spec->opts[i].short_name == c)
			return &spec->opts[i];
	return NULL;
}

/* The largest value the row's field holds, within its max. */
static uint64_t max_of(const struct opt_def *d)
{
	uint64_t field_max = d->width == 4 ? UINT32_MAX : UINT64_MAX;

	return d->max && d->max < field_max ? d->max : field_max;
}

/* Sizes as exact as they were written: 4096 -> "4K", 1536 -> "1536". */
static char *size_text(uint64_t v, char *buf, size_t len)
{
	static const char unit[] = "KMGTPE";
	int i = -1;

	while (v && !(v & 1023) && i < 5) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, unit[i]);
	return buf;
}

static char *value_text(const struct opt_def *d, uint64_t v, char *buf,
			size_t len)
{
	if (d->type == OPT_SIZE)
		return size_text(v, buf, len);
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static const char *unit_of(const struct opt_def *d)
{
	return d->type == OPT_MS ? " ms" : "";
}

/* A whole number, decimal or 0x hex; *end is left at the first non-digit. */
static int parse_uint(const char *s, uint64_t *v, const char **end)
{
	int base = 10;
	char *e;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)*s) ||
	    (base == 10 && !isdigit((unsigned char)*s)))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &e, base);
	*end = e;
	return errno ? -ERANGE : 0;
}

/* "250", "250ms", "2s". */
static int parse_ms(const char *s, uint64_t *v)
{
	const char *end;
	int ret = parse_uint(s, v, &end);

	if (ret)
		return ret;
	if (!strcmp(end, "s")) {
		if (*v > UINT64_MAX / 1000)
			return -ERANGE;
		*v *= 1000;
		return 0;
	}
	return *end && strcmp(end, "ms") ? -EINVAL : 0;
}

static int parse_number(const struct opts_spec *spec, const struct opt_def *d,
			const char *val, uint64_t *v)
{
	static const char *const want[] = {
		[OPT_SIZE] = "a size (like 4096, 64K, 512M, 2G)",
		[OPT_UINT] = "a whole number",
		[OPT_MS] = "a duration (like 250, 250ms, 2s)",
	};
	const char *end = "";
	int ret;

	if (d->type == OPT_SIZE)
		ret = cmp_parse_size(val, v);
	else if (d->type == OPT_MS)
		ret = parse_ms(val, v);
	else
		ret = parse_uint(val, v, &end);
	if (!ret && *end)
		ret = -EINVAL;
	if (ret == -ERANGE)
		return opts_error(spec, d->name, "'%s' is too large", val);
	if (ret)
		return opts_error(spec, d->name, "'%s' is not %s", val,
				  want[d->type]);
	return 0;
}

static int set_number(const struct opts_spec *spec, const struct opt_def *d,
		      const char *val, void *field)
{
	char lim[32];
	uint64_t v;
	int ret = parse_number(spec, d, val, &v);

	if (ret)
		return ret;
	if ((d->flags & OPT_POW2) && !cmp_is_pow2(v))
		return opts_error(spec, d->name, "'%s' is not a power of two",
				  val);
	if (v < d->min)
		return opts_error(spec, d->name, "'%s' is less than %s%s", val,
				  value_text(d, d->min, lim, sizeof(lim)),
				  unit_of(d));
	if (v > max_of(d))
		return opts_error(spec, d->name, "'%s' is more than %s%s", val,
				  value_text(d, max_of(d), lim, sizeof(lim)),
				  unit_of(d));
	if (d->width == 4)
		*(uint32_t *)field = (uint32_t)v;
	else
		*(uint64_t *)field = v;
	return 0;
}

/* tcp://HOST:PORT and rdma://HOST:PORT as conn.c reads them; mem://NAME. */
static bool addr_ok(const char *val)
{
	char host[256], port[8];
	const char *rest = strstr(val, "://");

	if (!rest)
		return false;
	rest += 3;
	if (!strncmp(val, "mem://", 6))
		return true;
	if (strncmp(val, "tcp://", 6) && strncmp(val, "rdma://", 7))
		return false;
	return !conn_split_hostport(rest, host, sizeof(host), port,
				    sizeof(port));
}

/*
 * OPT_TCP_LOCAL's short forms in full (PORT: loopback; HOST:PORT), in
 * buf; NULL when val is no TCP address.
 */
static const char *tcp_local(const char *val, char *buf, size_t len)
{
	if (val[strspn(val, "0123456789")] == '\0')
		snprintf(buf, len, "tcp://127.0.0.1:%s", val);
	else if (!strstr(val, "://"))
		snprintf(buf, len, "tcp://%s", val);
	else
		snprintf(buf, len, "%s", val);
	return strncmp(buf, "tcp://", 6) || !addr_ok(buf) ? NULL : buf;
}

/* Every item of an OPT_ADDR_LIST value is an address; at most max. */
static int check_list(const struct opts_spec *spec, const struct opt_def *d,
		      const char *val)
{
	char item[300];
	uint64_t n = 0;

	for (const char *s = val; *s; n++) {
		size_t len = strcspn(s, ",");

		snprintf(item, sizeof(item), "%.*s", (int)len, s);
		if (!len || len >= sizeof(item) || !addr_ok(item))
			return opts_error(spec, d->name,
					  "'%s' is not an address (tcp://HOST:"
					  "PORT, rdma://HOST:PORT or mem://"
					  "NAME)",
					  item);
		s += len + (s[len] == ',');
		if (!s[0] && s[-1] == ',')
			return opts_error(spec, d->name,
					  "'%s' ends with a comma", val);
	}
	if (d->max && n > d->max)
		return opts_error(spec, d->name,
				  "'%s' lists %llu addresses, at most %llu",
				  val, (unsigned long long)n,
				  (unsigned long long)d->max);
	return 0;
}

static int set_string(const struct opts_spec *spec, const struct opt_def *d,
		      const char *val, void *field)
{
	char full[300];
	char *copy;

	if (!*val)
		return opts_error(spec, d->name, "needs a value (%s)",
				  d->metavar ? d->metavar : "VALUE");
	if (d->type == OPT_ADDR_LIST && check_list(spec, d, val))
		return -EINVAL;
	if (d->type == OPT_ADDR && (d->flags & OPT_TCP_LOCAL)) {
		if (!tcp_local(val, full, sizeof(full)))
			return opts_error(spec, d->name,
					  "'%s' is not a TCP address (PORT "
					  "for 127.0.0.1, HOST:PORT or "
					  "tcp://HOST:PORT)",
					  val);
		val = full;
	} else if (d->type == OPT_ADDR && !addr_ok(val)) {
		return opts_error(spec, d->name,
				  "'%s' is not an address (tcp://HOST:PORT, "
				  "rdma://HOST:PORT or mem://NAME)",
				  val);
	}
	copy = strdup(val);
	if (!copy)
		return no_memory(spec);
	free(*(char **)field);
	*(char **)field = copy;
	return 0;
}

/* Applies one option; val NULL when none was given. */
static int set_value(const struct opts_spec *spec, const struct opt_def *d,
		     const char *val, void *obj)
{
	void *field = (char *)obj + d->offset;

	if (!takes_value(d)) {
		if (val)
			return opts_error(spec, d->name,
					  "takes no value (got '%s')", val);
		*(bool *)field = d->type == OPT_FLAG;
		return 0;
	}
	if (!val)
		return opts_error(spec, d->name, "needs a value (%s)",
				  d->metavar ? d->metavar : "VALUE");
	if (is_string(d))
		return set_string(spec, d, val, field);
	return set_number(spec, d, val, field);
}

static bool width_fits(const struct opt_def *d)
{
	switch (d->type) {
	case OPT_FLAG:
	case OPT_NOFLAG:
		return d->width == sizeof(bool);
	case OPT_STR:
	case OPT_ADDR:
	case OPT_ADDR_LIST:
		return d->width == sizeof(char *);
	default:
		return d->width == 4 || d->width == 8;
	}
}

int opts_init(const struct opts_spec *spec, void *obj)
{
	/* every row is checked before obj is touched */
	for (size_t i = 0; i < spec->nopts; i++)
		if (!width_fits(&spec->opts[i]))
			return opts_error(spec, spec->opts[i].name,
					  "field width %zu does not fit",
					  spec->opts[i].width);
	for (size_t i = 0; i < spec->nopts; i++) {
		const struct opt_def *d = &spec->opts[i];
		void *field = (char *)obj + d->offset;

		if (d->type == OPT_FLAG)
			*(bool *)field = false;
		else if (is_string(d))
			*(char **)field = NULL;
		else if (takes_value(d))
			memset(field, 0, d->width);
	}
	/* a "no" flag means its field is on unless it is given */
	for (size_t i = 0; i < spec->nopts; i++) {
		const struct opt_def *d = &spec->opts[i];

		if (d->type == OPT_NOFLAG)
			*(bool *)((char *)obj + d->offset) = true;
		if (d->def && takes_value(d) && set_value(spec, d, d->def, obj))
			return -EINVAL;
	}
	return 0;
}

void opts_finish(const struct opts_spec *spec, void *obj)
{
	for (size_t i = 0; i < spec->nopts; i++) {
		const struct opt_def *d = &spec->opts[i];
		char **field = (char **)((char *)obj + d->offset);

		if (!is_string(d))
			continue;
		free(*field);
		*field = NULL;
	}
}

/* Appends item to a comma-separated list, escaping ',' and '\\'. */
static int list_append(char **list, const char *item)
{
	size_t old = *list ? strlen(*list) : 0;
	size_t n = old + 2 * strlen(item) + 2;
	char *l = realloc(*list, n);
	char *d;

	if (!l)
		return -ENOMEM;
	d = l + old;
	if (old)
		*d++ = ',';
	for (; *item; item++) {
		if (*item == ',' || *item == '\\')
			*d++ = '\\';
		*d++ = *item;
	}
	*d = '\0';
	*list = l;
	return 0;
}

/*
 * Copies the next item of a -o list into buf without its escapes, as
 * libfuse reads them (a backslash takes the next character literally, or
 * three octal digits as one byte); returns where the next item starts.
 */
static const char *next_item(const char *s, char *buf)
{
	while (*s && *s != ',') {
		if (s[0] == '\\' && s[1]) {
			s++;
			if (s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
			    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
				*buf++ =
					(char)((s[0] - '0') * 64 +
					       (s[1] - '0') * 8 + (s[2] - '0'));
				s += 3;
				continue;
			}
		}
		*buf++ = *s++;
	}
	*buf = '\0';
	return *s ? s + 1 : s;
}

/* "manager=A" then "B": B joins the list A began (OPT_ADDR_LIST). */
static int list_more(const struct opts_spec *spec, const struct opt_def *d,
		     const char *item, void *obj)
{
	char **field = (char **)((char *)obj + d->offset);
	size_t len = strlen(*field) + strlen(item) + 2;
	char *joined = malloc(len);
	int ret;

	if (!joined)
		return no_memory(spec);
	snprintf(joined, len, "%s,%s", *field, item);
	ret = set_string(spec, d, joined, field);
	free(joined);
	return ret;
}

/* *list: the OPT_ADDR_LIST row of the item before, else NULL. */
static int list_item(const struct opts_spec *spec, void *obj, char *item,
		     char **rest, const struct opt_def **list)
{
	char *eq = strchr(item, '=');
	const struct opt_def *d;

	if (!eq && *list && strstr(item, "://"))
		return list_more(spec, *list, item, obj);
	d = find_long(spec, item, eq ? (size_t)(eq - item) : strlen(item));
	*list = d && d->type == OPT_ADDR_LIST && eq ? d : NULL;
	if (d)
		return set_value(spec, d, eq ? eq + 1 : NULL, obj);
	if (!rest) {
		if (eq)
			*eq = '\0';
		return opts_error(spec, item, "unknown (see --help)");
	}
	return list_append(rest, item) ? no_memory(spec) : 0;
}

int opts_parse_list(const struct opts_spec *spec, void *obj, const char *list,
		    char **rest)
{
	char *buf = malloc(strlen(list) + 1);
	const struct opt_def *last = NULL;
	const char *s = list;
	int ret = 0;

	if (!buf)
		return no_memory(spec);
	while (*s && !ret) {
		s = next_item(s, buf);
		if (*buf)
			ret = list_item(spec, obj, buf, rest, &last);
	}
	free(buf);
	return ret;
}

struct parser {
	const struct opts_spec *spec;
	void *obj;
	struct opts_rest *rest;
	int argc;
	char *const *argv;
	int i; /* the argument being read */
};

static int add_arg(const struct opts_spec *spec, int *n, char ***v,
		   const char *arg)
{
	char **a = realloc(*v, (size_t)(*n + 1) * sizeof(*a));

	if (!a)
		return no_memory(spec);
	*v = a;
	a[*n] = strdup(arg);
	if (!a[*n])
		return no_memory(spec);
	(*n)++;
	return 0;
}

static int operand(struct parser *p, const char *arg)
{
	if (!p->rest) {
		fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n",
			p->spec->prog, arg);
		return -EINVAL;
	}
	return add_arg(p->spec, &p->rest->nargs, &p->rest->args, arg);
}

/* An option the table does not know: someone else's, or an error. */
static int not_ours(struct parser *p, const char *arg)
{
	if (!p->rest) {
		int n = (int)strcspn(arg, "=");

		fprintf(stderr, "%s: option %.*s: unknown (see --help)\n",
			p->spec->prog, n, arg);
		return -EINVAL;
	}
	return add_arg(p->spec, &p->rest->nopts, &p->rest->opts, arg);
}

/* The value in the next argument, or NULL (and no argument used). */
static const char *next_arg(struct parser *p)
{
	if (p->i + 1 >= p->argc)
		return NULL;
	return p->argv[++p->i];
}

static int long_option(struct parser *p, const char *arg)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	const struct opt_def *d;

	d = find_long(p->spec, name, eq ? (size_t)(eq - name) : strlen(name));
	if (!d) {
		if (!strcmp(name, "help"))
			return OPTS_HELP;
		if (!strcmp(name, "version"))
			return OPTS_VERSION;
		return not_ours(p, arg);
	}
	if (eq)
		return set_value(p->spec, d, eq + 1, p->obj);
	return set_value(p->spec, d, takes_value(d) ? next_arg(p) : NULL,
			 p->obj);
}

static int o_list(struct parser *p, const char *arg)
{
	const char *list = arg[2] ? arg + 2 : next_arg(p);

	if (!list) {
		fprintf(stderr,
			"%s: option -o: needs a value (NAME=VALUE,...)\n",
			p->spec->prog);
		return -EINVAL;
	}
	return opts_parse_list(p->spec, p->obj, list,
			       p->rest ? &p->rest->olist : NULL);
}

/* -f, -fd (flags together), -b 64K, -b64K. */
static int short_options(struct parser *p, const char *arg)
{
	char name[3] = "-";
	int ret;

	if (arg[1] == 'o')
		return o_list(p, arg);
	for (const char *c = arg + 1; *c; c++) {
		const struct opt_def *d = find_short(p->spec, *c);

		if (!d && c == arg + 1 && (*c == 'h' || *c == 'V') && !c[1])
			return *c == 'h' ? OPTS_HELP : OPTS_VERSION;
		if (!d && c == arg + 1)
			return not_ours(p, arg);
		if (!d) {
			name[1] = *c;
			return opts_error(p->spec, name, "unknown (in '%s')",
					  arg);
		}
		if (takes_value(d))
			return set_value(p->spec, d, c[1] ? c + 1 : next_arg(p),
					 p->obj);
		ret = set_value(p->spec, d, NULL, p->obj);
		if (ret)
			return ret;
	}
	return 0;
}

int opts_parse_argv(const struct opts_spec *spec, void *obj, int argc,
		    char *const *argv, struct opts_rest *rest)
{
	struct parser p = {spec, obj, rest, argc, argv, 1};
	bool operands_only = false;
	int ret = 0;

	if (rest)
		*rest = (struct opts_rest){0};
	for (; !ret && p.i < argc; p.i++) {
		const char *arg = argv[p.i];

		if (operands_only || arg[0] != '-' || !arg[1])
			ret = operand(&p, arg);
		else if (!strcmp(arg, "--"))
			operands_only = true;
		else if (arg[1] == '-')
			ret = long_option(&p, arg);
		else
			ret = short_options(&p, arg);
	}
	return ret;
}

void opts_rest_finish(struct opts_rest *rest)
{
	for (int i = 0; i < rest->nargs; i++)
		free(rest->args[i]);
	for (int i = 0; i < rest->nopts; i++)
		free(rest->opts[i]);
	free(rest->args);
	free(rest->opts);
	free(rest->olist);
	*rest = (struct opts_rest){0};
}

/*
 * Prints text wrapped at HELP_WIDTH, the cursor being at column col; lines
 * it starts are indented to indent. A newline in text breaks the line.
 */
static void print_wrapped(FILE *out, const char *text, int indent, int col)
{
	bool line_empty = true;

	while (*text) {
		int word = (int)strcspn(text, " \n");

		if (!line_empty && col + 1 + word > HELP_WIDTH) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
			line_empty = true;
		}
		fprintf(out, "%s%.*s", line_empty ? "" : " ", word, text);
		col += !line_empty + word;
		line_empty = false;
		text += word;
		if (*text == '\n') {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
			line_empty = true;
			text++;
		}
		text += strspn(text, " ");
	}
	fputc('\n', out);
}

/* A flag whose field starts true ("tune_bdi" beside "notune_bdi"). */
static bool flag_is_default(const struct opts_spec *spec,
			    const struct opt_def *d)
{
	for (size_t i = 0; d->type == OPT_FLAG && i < spec->nopts; i++)
		if (spec->opts[i].type == OPT_NOFLAG &&
		    spec->opts[i].offset == d->offset)
			return true;
	return false;
}

/* The help text with its range and default: "block size (4K..4M, ...)". */
static void row_text(const struct opts_spec *spec, const struct opt_def *d,
		     char *buf, size_t len)
{
	char lo[32], hi[32], range[96] = "", def[96] = "";
	const char *unit = unit_of(d);

	if (d->type == OPT_ADDR_LIST && d->max)
		snprintf(range, sizeof(range), "at most %llu",
			 (unsigned long long)d->max);
	else if (d->max)
		snprintf(range, sizeof(range), "%s%s..%s%s",
			 d->flags & OPT_POW2 ? "a power of two, " : "",
			 value_text(d, d->min, lo, sizeof(lo)),
			 value_text(d, d->max, hi, sizeof(hi)), unit);
	else if (d->min > 1) /* min 1 only means nonzero: no note */
		snprintf(range, sizeof(range), "at least %s%s",
			 value_text(d, d->min, lo, sizeof(lo)), unit);
	if (d->def) /* a default that names its unit ("300s") keeps it */
		snprintf(def, sizeof(def), "%sdefault %s%s", *range ? "; " : "",
			 d->def,
			 d->def[strspn(d->def, "0123456789")] ? "" : unit);
	else if (flag_is_default(spec, d))
		snprintf(def, sizeof(def), "the default");
	if (*range || *def)
		snprintf(buf, len, "%s (%s%s)", d->help, range, def);
	else
		snprintf(buf, len, "%s", d->help);
}

/* One entry of --help: names on the left, text from HELP_INDENT on. */
static void print_entry(FILE *out, const char *left, const char *text)
{
	int n = fprintf(out, "  %s", left);

	if (n >= HELP_INDENT - 1)
		fprintf(out, "\n%*s", HELP_INDENT, "");
	else
		fprintf(out, "%*s", HELP_INDENT - n, "");
	print_wrapped(out, text, HELP_INDENT, HELP_INDENT);
}

static void print_row(const struct opts_spec *spec, const struct opt_def *d,
		      FILE *out)
{
	const char *mv = takes_value(d) ? d->metavar : NULL;
	char left[64], text[512];

	if (spec->mount_style)
		snprintf(left, sizeof(left), "-o %s%s%s", d->name,
			 mv ? "=" : "", mv ? mv : "");
	else if (d->short_name)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name,
			 d->name, mv ? " " : "", mv ? mv : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", d->name,
			 mv ? " " : "", mv ? mv : "");
	row_text(spec, d, text, sizeof(text));
	print_entry(out, left, text);
}

void opts_help(const struct opts_spec *spec, FILE *out)
{
	const char *u = spec->usage;

	for (bool first = true; *u; first = false) {
		int n = (int)strcspn(u, "\n");

		fprintf(out, "%s%.*s\n", first ? "Usage: " : "       ", n, u);
		u += n + (u[n] == '\n');
	}
	fputc('\n', out);
	print_wrapped(out, spec->about, 0, 0);
	fputc('\n', out);
	if (spec->mount_style)
		fprintf(out,
			"Options (-o NAME[=VALUE],... or --NAME[=VALUE]):\n");
	else
		fprintf(out, "Options (--NAME VALUE, --NAME=VALUE or "
			     "-o NAME=VALUE,...):\n");
	for (size_t i = 0; i < spec->nopts; i++)
		print_row(spec, &spec->opts[i], out);
	print_entry(out, "-h, --help", "show this help and exit");
	print_entry(out, "-V, --version", "show the version and exit");
	fprintf(out,
		"\nExit status: 0 success, 1 failure (its reason is "
		"logged), %d usage error\n(an unknown option, a bad or "
		"missing value, a missing argument).\n",
		OPTS_EXIT_USAGE);
}

void opts_version(const struct opts_spec *spec, FILE *out)
{
	fprintf(out, "%s %s\n", spec->prog, CMP_VERSION_STRING);
}

int opts_exit_status(const struct opts_spec *spec, int ret)
{
	if (ret == OPTS_HELP)
		opts_help(spec, stdout);
	else if (ret == OPTS_VERSION)
		opts_version(spec, stdout);
	return ret > 0 ? 0 : OPTS_EXIT_USAGE;
}
