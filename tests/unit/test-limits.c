// SPDX-License-Identifier: MIT
/*
 * What cmpfs reads before it mounts: MemAvailable, its memory cgroup's
 * path and limit (cgroup v1 and v2), mountinfo lines (escapes, optional
 * fields), and the headroom rule that turns a limit into the largest pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "fs.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void mem_available_is_read_in_kib(void **state)
{
	const char *text = "MemTotal:       24683620 kB\n"
			   "MemFree:         1000000 kB\n"
			   "MemAvailable:   22239360 kB\n"
			   "Buffers:           12345 kB\n";
	uint64_t v = 0;

	assert_int_equal(fs_meminfo_available(text, &v), 0);
	assert_int_equal(v, 22239360ull << 10);
	assert_int_equal(fs_meminfo_available("MemTotal: 1 kB\n", &v), -ENOENT);
}

static void psi_text_gives_some_avg10(void **state)
{
	double v = -1;

	assert_int_equal(fs_psi_parse("some avg10=12.50 avg60=3.00 "
				      "avg300=0.50 total=123\n"
				      "full avg10=1.00 avg60=0.00 avg300=0.00 "
				      "total=9\n",
				      &v),
			 0);
	assert_true(v > 12.49 && v < 12.51);
	/* "full" alone is not "some" */
	assert_int_equal(fs_psi_parse("full avg10=1.00 avg60=0.00\n", &v),
			 -ENOENT);
	assert_int_equal(fs_psi_parse("some avg60=1.00\n", &v), -EINVAL);
	assert_int_equal(fs_psi_parse("some avg10=x\n", &v), -EINVAL);
	assert_int_equal(fs_psi_parse("", &v), -ENOENT);
	(void)state;
}

static void cgroup_limits_parse_numbers_max_and_v1_unlimited(void **state)
{
	uint64_t v = 0;

	assert_int_equal(fs_cgroup_limit_parse("268435456\n", &v), 0);
	assert_int_equal(v, 256 * MiB);
	assert_int_equal(fs_cgroup_limit_parse("max\n", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	/* v1's "no limit" is the largest page-aligned counter */
	assert_int_equal(fs_cgroup_limit_parse("9223372036854771712\n", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(fs_cgroup_limit_parse("", &v), -EINVAL);
	assert_int_equal(fs_cgroup_limit_parse("12x\n", &v), -EINVAL);
}

static void v1_memory_hierarchy_is_found_among_others(void **state)
{
	const char *text = "9:name=systemd:/\n"
			   "8:pids:/\n"
			   "4:cpu,memory:/process_api/abc\n"
			   "0::/\n";
	char path[256];

	assert_int_equal(fs_proc_cgroup_path(text, false, path, sizeof(path)),
			 0);
	assert_string_equal(path, "/process_api/abc");
	assert_int_equal(fs_proc_cgroup_path(text, true, path, sizeof(path)),
			 0);
	assert_string_equal(path, "/");
}

static void v2_path_is_the_zero_line_and_memsw_is_not_memory(void **state)
{
	const char *text = "5:memsw:/x\n0::/user.slice/session-1.scope\n";
	char path[256];

	assert_int_equal(fs_proc_cgroup_path(text, false, path, sizeof(path)),
			 -ENOENT);
	assert_int_equal(fs_proc_cgroup_path(text, true, path, sizeof(path)),
			 0);
	assert_string_equal(path, "/user.slice/session-1.scope");
	/* a path that does not fit is not cut */
	assert_int_equal(fs_proc_cgroup_path(text, true, path, 8), -ENOENT);
}

static void mountinfo_line_is_split_and_unescaped(void **state)
{
	char line[] = "40 30 0:52 /sub /mnt/with\\040space rw,relatime "
		      "shared:7 master:1 - fuse.cmpfs cmpfs "
		      "rw,user_id=0,group_id=0\n";
	struct fs_mount_entry e;

	assert_int_equal(fs_mountinfo_parse(line, &e), 0);
	assert_int_equal(e.maj, 0);
	assert_int_equal(e.min, 52);
	assert_string_equal(e.root, "/sub");
	assert_string_equal(e.mountpoint, "/mnt/with space");
	assert_string_equal(e.fstype, "fuse.cmpfs");
	assert_string_equal(e.source, "cmpfs");
	assert_string_equal(e.superopts, "rw,user_id=0,group_id=0");
}

static void mountinfo_line_without_separator_is_refused(void **state)
{
	char a[] = "40 30 0:52 / /mnt rw,relatime fuse.cmpfs cmpfs rw\n";
	char b[] = "40 30 zz / /mnt rw - fuse.cmpfs cmpfs rw\n";
	char c[] = "40 30 0:52 / /mnt rw - fuse.cmpfs\n";
	struct fs_mount_entry e;

	assert_int_equal(fs_mountinfo_parse(a, &e), -EINVAL);
	assert_int_equal(fs_mountinfo_parse(b, &e), -EINVAL);
	assert_int_equal(fs_mountinfo_parse(c, &e), -EINVAL);
}

static void headroom_is_64m_or_a_sixteenth(void **state)
{
	assert_int_equal(fs_pool_headroom(256 * MiB), 64 * MiB);
	assert_int_equal(fs_pool_headroom(1 * GiB), 64 * MiB);
	assert_int_equal(fs_pool_headroom(16 * GiB), 1 * GiB);
	assert_int_equal(fs_pool_headroom(32 * MiB), 64 * MiB);
}

static void smallest_limit_wins_and_keeps_its_name(void **state)
{
	struct fs_mem_limit l = {.bytes = UINT64_MAX};

	fs_mem_limit_offer(&l, 20 * GiB, "MemAvailable");
	fs_mem_limit_offer(&l, 256 * MiB, "cgroup %s", "/a/b");
	fs_mem_limit_offer(&l, 1 * GiB, "cgroup %s", "/a");
	assert_int_equal(l.bytes, 256 * MiB);
	assert_string_equal(l.what, "cgroup /a/b");
}

static void the_machine_has_some_limit(void **state)
{
	struct fs_mem_limit l;

	/* MemAvailable exists on every kernel this runs on */
	fs_mem_limit_read(false, &l);
	assert_true(l.bytes < UINT64_MAX);
	assert_true(l.what[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mem_available_is_read_in_kib),
		cmocka_unit_test(psi_text_gives_some_avg10),
		cmocka_unit_test(
			cgroup_limits_parse_numbers_max_and_v1_unlimited),
		cmocka_unit_test(v1_memory_hierarchy_is_found_among_others),
		cmocka_unit_test(
			v2_path_is_the_zero_line_and_memsw_is_not_memory),
		cmocka_unit_test(mountinfo_line_is_split_and_unescaped),
		cmocka_unit_test(mountinfo_line_without_separator_is_refused),
		cmocka_unit_test(headroom_is_64m_or_a_sixteenth),
		cmocka_unit_test(smallest_limit_wins_and_keeps_its_name),
		cmocka_unit_test(the_machine_has_some_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
