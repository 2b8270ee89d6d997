#!/bin/bash
# bench/plot.sh OUT: gnuplot PNGs from what bench/throughput.sh left in OUT:
#   OUT/throughput.png  launches per second and master CPU per task against cluster size
#   OUT/latency.png     offer -> TASK_RUNNING distribution (CDF) for each latency-*.txt
set -eu
OUT=${1:-.}
command -v gnuplot >/dev/null || { echo "needs gnuplot (gnuplot-nox)"; exit 77; }
if [ -s "$OUT/throughput.dat" ]; then
    gnuplot <<GP
set terminal png size 900,500 noenhanced
set output "$OUT/throughput.png"
set title "Task launches through one master (emulated agents)"
set xlabel "emulated agents"
set logscale x
set ylabel "tasks reaching TASK_RUNNING per second"
set y2label "master CPU per task (ms)"
set y2tics
set ytics nomirror
set key top left
plot "$OUT/throughput.dat" using 1:3 with linespoints title "launches/s", \
     "$OUT/throughput.dat" using 1:7 axes x1y2 with linespoints title "master CPU ms/task"
GP
fi
files=$(ls "$OUT"/latency-*.txt 2>/dev/null || true)
if [ -n "$files" ]; then
    plots=""
    for f in $files; do
        n=$(wc -l <"$f")
        [ "$n" -gt 0 ] || continue
        name=$(basename "$f" .txt | sed 's/latency-//; s/-/ agents, /; s/$/ frameworks/')
        plots="$plots${plots:+, }\"$f\" using 1:((\$0+1)/$n) with lines title \"$name\""
    done
    gnuplot <<GP
set terminal png size 900,500 noenhanced
set output "$OUT/latency.png"
set title "Offer -> TASK_RUNNING (CDF)"
set xlabel "milliseconds"
set logscale x
set ylabel "fraction of tasks"
set key bottom right
plot $plots
GP
fi
ls "$OUT"/*.png
