# scale_lib.sh: helpers shared by the scale benchmarks (sourced, not run). Needs BIN (the build's
# bin dir) and WORK (a temp dir) set by the caller. Everything started is killed by scale_cleanup.

PIDS=()

scale_cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
}

# start_master NAME [flags...]: sets MASTER_PID and MASTER_PORT (not run in a subshell, so that
# the master's pid reaches PIDS and scale_cleanup stops it)
start_master() {
    local name=$1; shift
    rm -f "$WORK/$name.port"
    "$BIN/mesos-master" --ip=127.0.0.1 --port=0 --port_file="$WORK/$name.port" \
        --work_dir="$WORK/$name" --logging_level=WARNING "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do
        [ -s "$WORK/$name.port" ] && break
        sleep 0.05
    done
    MASTER_PID=$pid
    MASTER_PORT=$(cat "$WORK/$name.port" 2>/dev/null)
}

# start_emulators MASTER N PER_PROCESS [emulator flags...]: one emulator per PER_PROCESS agents,
# each on its own source address 127.0.0.(2+k) so ports do not run out (each source IP gives
# ~28,000 ephemeral ports towards one master). Stats (JSON lines) go to $WORK/emu<k>.out.
EMU_PIDS=()
start_emulators() {
    local master=$1 n=$2 per=$3; shift 3
    local k=0 first=0
    EMU_PIDS=()
    while [ "$first" -lt "$n" ]; do
        local cnt=$(( n - first < per ? n - first : per ))
        "$BIN/mesos-agent-emulator" --master="$master" --agents="$cnt" --first_index="$first" \
            --source_ips="127.0.0.$((2 + k))" --stats_interval="${STATS_INTERVAL:-0.5}" --logging_level=WARNING \
            --control_port=0 --control_port_file="$WORK/emu$k.ctl" "$@" \
            >"$WORK/emu$k.out" 2>"$WORK/emu$k.err" &
        EMU_PIDS+=("$!")
        PIDS+=("$!")
        first=$(( first + cnt ))
        k=$(( k + 1 ))
    done
}

# emu_sum FIELD: the sum of FIELD over the emulators' latest stats lines.
emu_sum() {
    local f=$1 total=0 v
    for out in "$WORK"/emu*.out; do
        v=$(tail -n 1 "$out" 2>/dev/null | sed -n "s/.*\"$f\":\([0-9.]*\).*/\1/p")
        total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN{print a+b}')
    done
    echo "$total"
}

# cpu_ticks PID: utime+stime in clock ticks
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
