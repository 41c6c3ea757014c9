# SPDX-License-Identifier: MIT
# shellcheck shell=bash disable=SC2034,SC2154
# (the WL_ tables are declared in lib.sh and read by run.sh)
#
# Workload 4, ext4 on a loop device (--direct-io=on) over a file on each
# system and on the local disk: fio 16 KiB randread, randwrite, read,
# write, O_DIRECT (fio instead of IOzone).

EXT4_MB=$(sized 32 1024)      # the image
EXT4_FIO_MB=$(sized 4 256)    # fio's file in it
EXT4_LEN=$(sized "--number_ios=64" "--runtime=4 --time_based") # each fio job
peer_room "$EXT4_MB"
WL_SIZES[ext4]="ext4 image ${EXT4_MB} MiB, fio file ${EXT4_FIO_MB} MiB"
# smoke: each way of making the image (a file on a system, the local
# disk, nbdfuse's disk) once, two of the four fio jobs
WL_NEEDS[ext4]=$(sized "tmpfs disk nbdfuse" \
	"cmpfs cmpfs-remote cmpfs-memsrv disk tmpfs fusefloor nbdfuse")
EXT4_RW=$(sized "randwrite read" "randread randwrite read write")

# ext4_image SYSTEM: the image file, made (and removed at the unwind)
# unless it is nbdfuse's disk.
ext4_image() {
	local s=$1
	case $s in
	disk) EXT4_IMG=$DISKDIR/$TAG-ext4.img ;;
	nbdfuse) EXT4_IMG=${MNT[$s]}/disk; return 0 ;;
	*) EXT4_IMG=${MNT[$s]}/ext4.img ;;
	esac
	rm -f "$EXT4_IMG"
	defer "rm -f $EXT4_IMG"
	if [[ $s == disk ]]; then
		fallocate -l "${EXT4_MB}M" "$EXT4_IMG"
	else
		truncate -s "${EXT4_MB}M" "$EXT4_IMG"
	fi
}

ext4_run() {
	local s=$1 mp m rw js v iops p50 p99 p999 ios mb
	m=$(mark)
	ext4_image "$s" || { unwind "$m"; fail "$s" ext4_setup "" "cannot create image"; return; }
	loop_on "$EXT4_IMG" --direct-io=on --sizelimit "$((EXT4_MB << 20))" ||
		{ unwind "$m"; fail "$s" ext4_setup "" "losetup failed"; return; }
	mp=$WORK/mnt/ext4-$s
	mkdir -p "$mp"
	if ! timed mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOPDEV" ||
		! mount -o noatime "$LOOPDEV" "$mp"; then
		unwind "$m"
		fail "$s" ext4_setup "" "mkfs/mount failed"
		return
	fi
	defer "umount $mp"
	for rw in $EXT4_RW; do
		js=$WORK/fio.json
		if timed fio --name=e4 --directory="$mp" --filename=f --rw="$rw" --bs=16k \
			--ioengine=psync --numjobs=1 --size="${EXT4_FIO_MB}M" --direct=1 \
			$EXT4_LEN --output-format=json --output="$js" &&
			v=$(fio_parse "$js"); then
			read -r iops p50 p99 p999 ios mb <<<"$v"
			record "$s" "ext4_${rw}_MBps" "$mb" MB/s
			record "$s" "ext4_${rw}_p50" "$p50" us
		else
			fail "$s" "ext4_${rw}_MBps" MB/s "fio failed"
		fi
	done
	unwind "$m"
}
