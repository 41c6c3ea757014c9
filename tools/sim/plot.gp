# SPDX-License-Identifier: MIT
# Plots a cmp-sim run: gnuplot -e "dir='OUT'" tools/sim/plot.gp writes
# OUT/cmp-sim.png from OUT/samples.csv (columns: tools/sim/report.c).
# Six panels over simulated time: the blocks by list, the manager's
# messages per allocation, placement against the ideal, moves per second,
# lending while in debt with failed allocations, and metadata per block.
if (!exists("dir")) dir = "cmp-sim-out"
csv = dir . "/samples.csv"
set datafile separator ","
set terminal pngcairo size 1500,1300 font ",10"
set output dir . "/cmp-sim.png"
set key top right box opaque
set grid
set xlabel "simulated time (s)"
set multiplot layout 3,2 title "cmp-sim: " . dir

set title "blocks by list (compute nodes; memservers' lent)"
set ylabel "blocks"
plot csv using 1:7 skip 1 with lines lw 2 title "LLL (local data)", \
     csv using 1:8 skip 1 with lines lw 2 title "LRL (data elsewhere)", \
     csv using 1:9 skip 1 with lines lw 2 title "RLL (lent)", \
     csv using 1:10 skip 1 with lines lw 2 title "on memservers", \
     csv using 1:11 skip 1 with lines lw 1 title "free"

set title "manager messages per block allocated (per interval)"
set ylabel "messages / allocation"
set logscale y
plot csv using 1:($18 > 0 ? $18 : NaN) skip 1 with lines lw 2 \
	title "all requests", \
     csv using 1:($19 > 0 ? $19 : NaN) skip 1 with lines lw 2 \
	title "FIND_FREE" noenhanced
unset logscale y

set title "placement against the ideal"
set ylabel "blocks that could be local"
set y2label "% of data elsewhere"
set y2tics
plot csv using 1:20 skip 1 with lines lw 2 title "could be local", \
     csv using 1:21 skip 1 axes x1y2 with lines lw 1 \
	title "LRL / data (%, right)"
unset y2tics
unset y2label

set title "moves per second"
set ylabel "blocks / s"
# each curve keeps its own previous row (a plot reads the file per curve)
pe = 0; te = 0; ph = 0; th = 0; pm = 0; tm = 0; pf = 0; tf = 0
plot csv using 1:(d = $1 > te ? ($22 - pe) / ($1 - te) : NaN, \
		  pe = $22, te = $1, d) skip 1 \
	with lines lw 2 title "evicted (2)", \
     csv using 1:(d = $1 > th ? ($23 - ph) / ($1 - th) : NaN, \
		  ph = $23, th = $1, d) skip 1 \
	with lines lw 2 title "pulled home (4)", \
     csv using 1:(d = $1 > tm ? ($24 - pm) / ($1 - tm) : NaN, \
		  pm = $24, tm = $1, d) skip 1 \
	with lines lw 2 title "lent block moved on (3)", \
     csv using 1:(d = $1 > tf ? ($25 - pf) / ($1 - tf) : NaN, \
		  pf = $25, tf = $1, d) skip 1 \
	with lines lw 2 title "followed (5)"

set title "lending while in debt; failed allocations"
set ylabel "nodes"
set yrange [0:*]
set y2range [0:*]
set y2label "failed allocations (cumulative)"
set y2tics
plot csv using 1:27 skip 1 with lines lw 2 title "nodes lending while in debt", \
     csv using 1:14 skip 1 axes x1y2 with lines lw 1 \
	title "failed allocations (right)"
unset y2tics
unset y2label
set autoscale y
set autoscale y2

set title "bookkeeping per block of capacity"
set ylabel "bytes / block"
set y2label "connections to providers"
set y2tics
plot csv using 1:28 skip 1 with lines lw 2 title "metadata in all", \
     csv using 1:31 skip 1 with lines lw 1 title "pool", \
     csv using 1:32 skip 1 with lines lw 1 title "loan table", \
     csv using 1:33 skip 1 with lines lw 1 title "providers' table", \
     csv using 1:29 skip 1 with lines lw 1 title "process heap", \
     csv using 1:30 skip 1 axes x1y2 with lines lw 1 \
	title "connections (right)"
unset multiplot
