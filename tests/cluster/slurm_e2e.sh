#!/usr/bin/env bash
# End-to-end test of profiles/slurm against a real SLURM cluster.
#
# As root on a Debian 12 machine (no systemd needed): installs SLURM from Debian's packages if
# missing, starts a one-node cluster on localhost (munged, slurmctld, slurmd, started by hand),
# then
#   1. runs the tiny demo configuration (TINY_CONFIG of tests/helpers.py) with
#      `--profile profiles/slurm` (plus the overrides this test cluster needs: partition, no GPU,
#      no account, fast polling) and checks that every job of the DAG was a SLURM batch job that
#      slurmctld saw finish with exit status 0;
#   2. runs the same configuration locally (`--cores 2`, at the same time) and checks that both
#      runs produced the same list of result files;
#   3. makes a job fail inside SLURM (a corrupt TFRecord under training) and checks that the run
#      fails and that its error message names the job's log files;
# and finally stops every daemon it started, by PID, and removes their pid files from /run.
# It prints the SLURM job ids it saw. Rerunnable; exits non-zero on any failure.
#
# Environment: SNAKESEG_PYTHON (the Python with snakemake and the plugin; default: the repository's
# .venv, else python3), SNAKESEG_SLURM_E2E_DIR (scratch folder, default /tmp/snakeseg-slurm-e2e,
# emptied at the start).
set -euo pipefail

SECONDS=0
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -n "${SNAKESEG_PYTHON:-}" ]]; then PY=$SNAKESEG_PYTHON
elif [[ -x "$REPO/.venv/bin/python" ]]; then PY=$REPO/.venv/bin/python
else PY=$(command -v python3); fi
BASE=${SNAKESEG_SLURM_E2E_DIR:-/tmp/snakeseg-slurm-e2e}
case "$BASE" in /?*/?*) ;; *) echo "SNAKESEG_SLURM_E2E_DIR must be an absolute path two levels deep" >&2; exit 2 ;; esac
HOST=$(hostname -s)
PARTITION=e2e
CTLD_PIDFILE=/run/slurmctld.pid
SLURMD_PIDFILE=/run/slurmd.pid
MUNGED_PIDFILE=/run/munge/munged.pid
RUN_TIMEOUT=${SNAKESEG_SLURM_E2E_RUN_TIMEOUT:-1200}

CONF=$BASE/slurm/slurm.conf
# SLURM commands inside a job (the plugin's `srun`) drop SLURM_* variables, SLURM_CONF included,
# so the configuration must be found at the default path: a symbolic link to $CONF.
ETC_CONF=/etc/slurm/slurm.conf

STARTED_PIDS=()       # "name:pid:pidfile" of every daemon this script started
LINKED_CONF=""
LOCAL_RUN_PID=""      # the local snakemake run (background; pid = its process group)
SLURM_RUN_PID=""      # the run submitting to SLURM (background, so signals reach the traps)
unset SLURM_CONF
export PYTHONHASHSEED=0

log() { printf '[slurm_e2e %4ds] %s\n' "$SECONDS" "$*"; }
die() { printf '[slurm_e2e %4ds] FAIL: %s\n' "$SECONDS" "$*" >&2; exit 1; }

# --- teardown ------------------------------------------------------------------------------------
stop_pid() {  # stop_pid NAME PID: SIGTERM, wait up to 20 s, then SIGKILL
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_group() {  # stop_group NAME PGID GRACE: SIGTERM to a process group we started, then SIGKILL
    local name=$1 pgid=$2 grace=$3 i
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for i in $(seq 1 $((grace * 2))); do kill -0 -- "-$pgid" 2>/dev/null || return 0; sleep 0.5; done
    log "$name (process group $pgid) still running after ${grace} s; sending SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

cleanup() {
    local rc=$? entry name pid pidfile i
    set +e
    trap - EXIT INT TERM
    # The snakemake runs were started in their own process groups (setsid): stop each group.
    if [[ -n "$LOCAL_RUN_PID" ]] && kill -0 -- "-$LOCAL_RUN_PID" 2>/dev/null; then
        log "stopping the local run (process group $LOCAL_RUN_PID)"
        stop_group "local run" "$LOCAL_RUN_PID" 10
    fi
    if [[ -n "$SLURM_RUN_PID" ]] && kill -0 -- "-$SLURM_RUN_PID" 2>/dev/null; then
        log "stopping the SLURM run (process group $SLURM_RUN_PID)"
        stop_group "SLURM run" "$SLURM_RUN_PID" 30
    fi
    if ((${#STARTED_PIDS[@]})); then
        # Jobs still queued or running on our private cluster (an aborted run) go first.
        local jobs
        jobs=$(timeout 15 squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null | tr '\n' ' ')
        if [[ -n "${jobs// /}" ]]; then
            log "cancelling leftover jobs: $jobs"
            timeout 20 scancel --quiet $jobs 2>/dev/null
            sleep 2
        fi
        # Stop in reverse order of start: slurmd, slurmctld, munged.
        for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
            IFS=: read -r name pid pidfile <<<"${STARTED_PIDS[$i]}"
            log "stopping $name (pid $pid)"
            stop_pid "$name" "$pid"
            # Daemons that dropped to the slurm/munge user cannot delete their pid files in /run.
            rm -f "$pidfile"
        done
    fi
    if [[ -n "$LINKED_CONF" && "$(readlink "$ETC_CONF")" == "$CONF" ]]; then rm -f "$ETC_CONF"; fi
    if ((rc == 0)); then log "PASS (wall time ${SECONDS} s)"
    else log "FAILED with exit status $rc (wall time ${SECONDS} s); files under $BASE"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- preconditions and packages ------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts the SLURM daemons)"
command -v apt-get >/dev/null || die "needs Debian's apt-get"
"$PY" -c 'import snakemake, snakemake_executor_plugin_slurm' 2>/dev/null \
    || die "$PY lacks snakemake or snakemake-executor-plugin-slurm (pip install -r requirements.txt)"

PACKAGES=(munge slurmctld slurmd slurm-client)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi
log "slurm $(dpkg-query -W -f='${Version}' slurmctld), $("$PY" -m snakemake --version 2>/dev/null | tail -1 | sed 's/^/snakemake /')," \
    "plugin $("$PY" -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"))')"

# --- leftovers of an earlier, interrupted run ----------------------------------------------------
# A daemon whose command line names our scratch folder was started by this script: stop it.
# Any other SLURM daemon on this machine is not ours to touch: refuse to run next to it.
ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$BASE/"; }
for pidfile in "$SLURMD_PIDFILE" "$CTLD_PIDFILE" "$MUNGED_PIDFILE"; do
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        if ours "$pid"; then
            log "stopping pid $pid left by an earlier run ($pidfile)"
            stop_pid "$(basename "$pidfile" .pid)" "$pid"
            rm -f "$pidfile"
        elif [[ "$pidfile" != "$MUNGED_PIDFILE" ]]; then
            die "a SLURM daemon not started by this script is running (pid $pid, $pidfile); stop it first"
        fi
    else
        rm -f "$pidfile"   # stale
    fi
done
for d in slurmctld slurmd; do
    if pgrep -x "$d" >/dev/null; then die "a $d not started by this script is running (pids $(pgrep -x "$d" | tr '\n' ' '))"; fi
done

# --- scratch folder ------------------------------------------------------------------------------
rm -rf "$BASE"
mkdir -p "$BASE"/{slurm/state,slurm/spool,slurm/log,munge,slurm-run,local-run}
chown -R slurm:slurm "$BASE/slurm/state" "$BASE/slurm/log"
chown munge:munge "$BASE/munge" && chmod 0700 "$BASE/munge"
runuser -u slurm -- test -w "$BASE/slurm/state" \
    || die "the slurm user cannot reach $BASE (a parent folder is private); set SNAKESEG_SLURM_E2E_DIR"

# --- munge ---------------------------------------------------------------------------------------
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running; using it"
else
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    fi
    # No systemd: create the runtime folder ourselves and run munged as the munge user.
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGED_PIDFILE" --log-file="$BASE/munge/munged.log"
    for i in $(seq 1 40); do [[ -s "$MUNGED_PIDFILE" ]] && break; sleep 0.25; done
    [[ -s "$MUNGED_PIDFILE" ]] || die "munged did not start: $(cat "$BASE/munge/munged.log" 2>/dev/null)"
    STARTED_PIDS+=("munged:$(cat "$MUNGED_PIDFILE"):$MUNGED_PIDFILE")
    munge -n | unmunge >/dev/null || die "munge does not work"
    log "munged started (pid $(cat "$MUNGED_PIDFILE"))"
fi

# --- slurm.conf ----------------------------------------------------------------------------------
CPUS=$(nproc)
MEM_TOTAL=$(free -m | awk '/^Mem:/ {print $2}')
REAL_MEMORY=$((MEM_TOTAL * 85 / 100))
# The tiny configuration's training jobs ask for about 2000 MB each.
((REAL_MEMORY >= 2500)) || die "only $MEM_TOTAL MB of memory; the test needs about 3000"
cat >"$CONF" <<EOF
# One-node test cluster written by tests/cluster/slurm_e2e.sh
ClusterName=snakeseg-e2e
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$BASE/slurm/state
SlurmdSpoolDir=$BASE/slurm/spool
SlurmctldPidFile=$CTLD_PIDFILE
SlurmdPidFile=$SLURMD_PIDFILE
SlurmctldLogFile=$BASE/slurm/log/slurmctld.log
SlurmdLogFile=$BASE/slurm/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# The plugin's squeue status check needs finished jobs to stay visible (>= 3x its first delay).
MinJobAge=300
ReturnToService=2
InactiveLimit=0
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEMORY State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# --- slurmctld and slurmd ------------------------------------------------------------------------
wait_pidfile() {  # wait_pidfile NAME PIDFILE LOG
    local i
    for i in $(seq 1 60); do [[ -s "$2" ]] && kill -0 "$(cat "$2")" 2>/dev/null && return 0; sleep 0.5; done
    tail -20 "$3" >&2 2>/dev/null || true
    die "$1 did not start"
}
if [[ -e "$ETC_CONF" || -L "$ETC_CONF" ]] && [[ "$(readlink "$ETC_CONF")" != "$CONF" ]]; then
    die "$ETC_CONF exists and is not this test's; move it away first"
fi
mkdir -p "$(dirname "$ETC_CONF")"
ln -sfn "$CONF" "$ETC_CONF"
LINKED_CONF=1
slurmctld -f "$CONF"
wait_pidfile slurmctld "$CTLD_PIDFILE" "$BASE/slurm/log/slurmctld.log"
STARTED_PIDS+=("slurmctld:$(cat "$CTLD_PIDFILE"):$CTLD_PIDFILE")
for i in $(seq 1 60); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.5; done
scontrol ping | grep -q 'is UP' || die "slurmctld does not answer: $(tail -5 "$BASE/slurm/log/slurmctld.log")"
slurmd -f "$CONF" -N "$HOST"
wait_pidfile slurmd "$SLURMD_PIDFILE" "$BASE/slurm/log/slurmd.log"
STARTED_PIDS+=("slurmd:$(cat "$SLURMD_PIDFILE"):$SLURMD_PIDFILE")
state=""
for i in $(seq 1 60); do
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1)
    [[ "$state" == idle ]] && break
    [[ "$state" == drain* || "$state" == down* ]] && scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
    sleep 1
done
[[ "$state" == idle ]] || die "node $HOST is '$state', not idle: $(scontrol show node "$HOST" | grep -i reason)"
log "cluster up: slurmctld pid $(cat "$CTLD_PIDFILE"), slurmd pid $(cat "$SLURMD_PIDFILE"), node $HOST, $CPUS CPUs, ${REAL_MEMORY} MB"
timeout 60 srun -p "$PARTITION" -t 1 --mem 10 true || die "a trivial srun job does not run"

# --- the tiny demo configuration -----------------------------------------------------------------
"$PY" - "$REPO/tests/helpers.py" "$BASE/tiny.yaml" <<'EOF'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
value = next(n.value.value for n in tree.body if isinstance(n, ast.Assign)
             and any(getattr(t, "id", None) == "TINY_CONFIG" for t in n.targets))
open(sys.argv[2], "w").write(value)
EOF

SNAKEMAKE=("$PY" -m snakemake -s "$REPO/Snakefile" --configfile "$BASE/tiny.yaml")
# What this test cluster needs on top of the profile: its partition, no account (no accounting
# database), no GPUs, memory that fits, threads that fit the node, and quicker polling.
# (--default-resources/--set-resources on the command line replace the profile's whole mapping.)
CLUSTER_OVERRIDES=(
    --profile "$REPO/profiles/slurm"
    --default-resources "slurm_partition='$PARTITION'" runtime=30 mem_mb=1000
    --set-resources train_fold:gpu=0 predict:gpu=0
    --max-threads "$CPUS"
    --slurm-init-seconds-before-status-checks 5
)

log "local run (--cores 2) in the background: $BASE/local-run"
setsid --wait "${SNAKEMAKE[@]}" --directory "$BASE/local-run" --cores 2 >"$BASE/local-run.log" 2>&1 &
LOCAL_RUN_PID=$!

slurm_run() {  # slurm_run LOG ARGS...: the workflow through the profile on our cluster; sets rc
    setsid --wait timeout "$RUN_TIMEOUT" "${SNAKEMAKE[@]}" --directory "$BASE/slurm-run" "${CLUSTER_OVERRIDES[@]}" \
        "${@:2}" >"$1" 2>&1 &
    SLURM_RUN_PID=$!
    rc=0
    wait "$SLURM_RUN_PID" || rc=$?
    SLURM_RUN_PID=""
}

log "SLURM run with --profile profiles/slurm: $BASE/slurm-run (log: $BASE/slurm-run.log)"
slurm_run "$BASE/slurm-run.log"
if ((rc != 0)); then
    tail -60 "$BASE/slurm-run.log" >&2
    ((rc == 124)) && die "the SLURM run did not finish within $RUN_TIMEOUT s"
    die "the SLURM run failed (exit status $rc)"
fi
log "SLURM run finished"

# Every job of the DAG (but the target rule `all`, which runs no code) must have been submitted
# with sbatch, and slurmctld must have seen each of those SLURM jobs start and end with exit 0.
"$PY" - "$BASE/slurm-run.log" "$BASE/slurm/log/slurmctld.log" "$BASE/slurm-run" "$REPO" >"$BASE/slurm-jobs.txt" <<'EOF'
import re, sys
from pathlib import Path
out, ctld, workdir = Path(sys.argv[1]).read_text(), Path(sys.argv[2]).read_text(), Path(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from snakeseg.workflow.jobstats import job_counts
fail = lambda msg: sys.exit(f"FAIL: {msg}")

if "Job stats:" not in out:
    fail("no 'Job stats' table in the run's output")
planned = job_counts(out)
LOCAL_RULES = {"all"}  # the target rule: runs no code
for name in LOCAL_RULES:
    planned.pop(name, None)

dag = {}  # snakemake job id -> rule, from the job blocks ("rule X:" ... "jobid: N")
rule = None
for line in out.splitlines():
    m = re.match(r"^(local)?rule (\w+):$", line.strip())
    if m:
        rule = (m.group(1) or "") + m.group(2)
        continue
    m = re.match(r"^jobid: (\d+)$", line.strip())
    if m and rule:
        dag[int(m.group(1))] = rule
        rule = None
local = {j: r for j, r in dag.items() if r.startswith("local")}
if set(local.values()) - {f"local{name}" for name in LOCAL_RULES}:
    fail(f"jobs ran outside SLURM: {local}")
remote = {j: r for j, r in dag.items() if not r.startswith("local")}

submitted = {int(j): int(s) for j, s in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out)}
if not submitted:
    fail("no job was submitted to SLURM")
if set(submitted) != set(remote):
    fail(f"snakemake jobs {sorted(set(remote) ^ set(submitted))} were not submitted exactly once")
counts = {}
for j in submitted:
    counts[remote[j]] = counts.get(remote[j], 0) + 1
if counts != planned:
    fail(f"submitted jobs per rule {counts} differ from the plan {planned}")
if len(set(submitted.values())) != len(submitted):
    fail("two snakemake jobs share a SLURM job id")
for j, s in sorted(submitted.items()):
    if not re.search(rf"_slurm_rpc_submit_batch_job: JobId={s}\b", ctld):
        fail(f"slurmctld.log has no submission of SLURM job {s} (snakemake job {j})")
    if not re.search(rf"_job_complete: JobId={s} WEXITSTATUS 0\b", ctld):
        fail(f"slurmctld.log does not show SLURM job {s} (snakemake job {j}, {remote[j]}) ending with exit 0")
if not re.search(r"\b(\d+) of \1 steps \(100%\) done", out):
    fail("the run did not report all steps done")

print(f"{len(submitted)} snakemake jobs, {len(submitted)} SLURM jobs (rule `all` runs no code):")
for j, s in sorted(submitted.items(), key=lambda kv: kv[1]):
    print(f"  SLURM job {s:>3}  <- snakemake job {j:>2}  {remote[j]}")
print("SLURM job ids: " + " ".join(str(s) for s in sorted(submitted.values())))
EOF
cat "$BASE/slurm-jobs.txt"

# --- same result files as a local run ------------------------------------------------------------
log "waiting for the local run"
rc=0
wait "$LOCAL_RUN_PID" || rc=$?
LOCAL_RUN_PID=""
((rc == 0)) || { tail -40 "$BASE/local-run.log" >&2; die "the local run failed (exit status $rc)"; }
(cd "$BASE/local-run/results" && find . \( -type f -o -type l \) | LC_ALL=C sort) >"$BASE/local-files.txt"
(cd "$BASE/slurm-run/results" && find . \( -type f -o -type l \) | LC_ALL=C sort) >"$BASE/slurm-files.txt"
[[ -s "$BASE/local-files.txt" ]] || die "the local run wrote no result files"
diff -u "$BASE/local-files.txt" "$BASE/slurm-files.txt" >&2 \
    || die "the SLURM run's result files differ from the local run's (above: - local, + SLURM)"
log "result files: SLURM run = local run ($(wc -l <"$BASE/slurm-files.txt") files)"

# --- a job that fails inside SLURM fails the run, naming its log files ---------------------------
# Corrupt one TFRecord and retrain one fold's model only (the target): the training job, which
# reads every shard, dies inside its SLURM job with a DataLossError; the plan itself stays valid,
# so only the SLURM side can report the failure. Training's scratch folder (work/train, where
# it keeps what it needs to resume) goes first, so the job starts afresh and reads the data.
TFRECORD=$(cd "$BASE/slurm-run" && find work -name '*.tfrec' | LC_ALL=C sort | head -1)
MODEL=$(cd "$BASE/slurm-run" && find results -name model.h5 -path '*fold-*' | LC_ALL=C sort | head -1)
[[ -n "$TFRECORD" && -n "$MODEL" ]] || die "the SLURM run left no TFRecord or no model.h5"
log "failing run: corrupt $TFRECORD, retrain $MODEL on SLURM"
yes 'this is not a TFRecord' | head -c 4096 >"$BASE/slurm-run/$TFRECORD" || true
rm -rf "$BASE/slurm-run/work/train"
slurm_run "$BASE/slurm-fail.log" --retries 0 --forcerun train_fold -- "$MODEL"
((rc != 124)) || die "the failing run did not finish within $RUN_TIMEOUT s"
((rc != 0)) || die "the run succeeded although its training job read a corrupt TFRecord"
"$PY" - "$BASE/slurm-fail.log" "$BASE/slurm/log/slurmctld.log" "$BASE/slurm-run" >"$BASE/slurm-fail.txt" <<'EOF'
import re, sys
from pathlib import Path
out, ctld, workdir = Path(sys.argv[1]).read_text(), Path(sys.argv[2]).read_text(), Path(sys.argv[3])
def fail(msg):
    sys.exit(f"FAIL: {msg}\n--- end of the failing run's output ---\n{out[-4000:]}")
submitted = {s for _, s in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out)}
if not submitted:
    fail("the failing run submitted no SLURM job")
failed = re.findall(r"SLURM-job '(\d+)' failed", out)
if not failed:
    fail("no SLURM job reported as failed")
if set(failed) - submitted:
    fail(f"failed SLURM jobs {failed} were not submitted by this run")
for s in failed:
    if not re.search(rf"_job_complete: JobId={s} WEXITSTATUS [1-9]", ctld):
        fail(f"slurmctld.log does not show SLURM job {s} ending with a non-zero exit status")
# Snakemake's error block of a job: "Error in rule X:" and its indented lines.
blocks = [b for b in re.findall(r"Error in rule train_fold:((?:\n    .*)+)", out) if "external_jobid:" in b]
if not blocks:
    fail("no 'Error in rule train_fold' message for a SLURM job")
for block in blocks:
    jobid = re.search(r"external_jobid: (\d+)", block).group(1)
    m = re.search(r"^    log: (.*?) \(check log file\(s\) for error details\)$", block, re.M)
    if not m:
        fail(f"the error message of SLURM job {jobid} names no log files")
    paths = [p.strip() for p in m.group(1).split(",")]
    rule_logs = [p for p in paths if re.fullmatch(r"logs/train_fold/\S+\.log", p)]
    slurm_logs = [p for p in paths if re.search(rf"\.snakemake/slurm_logs/rule_train_fold/\S+/{jobid}\.log$", p)]
    if not rule_logs or not slurm_logs:
        fail(f"the error message's log list {paths} lacks the rule's log or the SLURM job's log")
    files = [Path(p) if Path(p).is_absolute() else workdir / p for p in rule_logs + slurm_logs]
    for f in files:
        if not f.is_file():
            fail(f"log file {f} named in the error message does not exist")
    text = "".join(f.read_text(errors="replace") for f in files)
    errors = [line.strip() for line in text.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", line.strip())]
    if not errors:
        fail("neither log named in the error message shows the job's error")
    print(f"  SLURM job {jobid} failed as expected; the error message names: {', '.join(paths)}")
    print(f"  the job's error: {errors[0][:160]}")
print("SLURM job ids of the failing run: " + " ".join(sorted(failed, key=int)))
EOF
cat "$BASE/slurm-fail.txt"

log "SLURM job ids seen: $(sed -n 's/^SLURM job ids: //p' "$BASE/slurm-jobs.txt") (successful run);" \
    "$(sed -n 's/^SLURM job ids of the failing run: //p' "$BASE/slurm-fail.txt") (failing run)"
