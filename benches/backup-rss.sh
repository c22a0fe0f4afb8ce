#!/bin/bash
# Row 9: peak RSS of `wasmclaw serve` backing up, then restoring, one tenant
# holding 1 GiB of files (its whole default quota) and a 1 TiB sparse file.
# Run from the repository: bash benches/backup-rss.sh [path/to/wasmclaw]
set -e
BIN=$(realpath "${1:-target/release/wasmclaw}")
work=$(mktemp -d); cd "$work"; trap 'rm -rf "$work"' EXIT
mkdir data
$BIN serve --data-dir data --listen 127.0.0.1:18777 > serve.log 2>&1 &
PID=$!
for i in $(seq 50); do grep -q "listening" serve.log 2>/dev/null && break; sleep 0.3; done
KEY=$(grep -o 'wca_[0-9a-f]*' serve.log | head -1)
[ -n "$KEY" ] || { cat serve.log; kill $PID; exit 1; }
curl -s -X POST -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d '{"id":"big"}' http://127.0.0.1:18777/v1/tenants > /dev/null
mkdir -p data/tenants/big/files
for i in $(seq 0 15); do head -c $((64<<20)) /dev/urandom > data/tenants/big/files/f$i; done
# plus one sparse file of 1 TiB
python3 -c "f=open('data/tenants/big/files/sparse','wb'); f.seek(1<<40); f.write(b'x')"
before=$(grep VmHWM /proc/$PID/status | awk '{print $2}')
time curl -s -H "authorization: Bearer $KEY" "http://127.0.0.1:18777/v1/backup?tenant=big" -o big.backup
after=$(grep VmHWM /proc/$PID/status | awk '{print $2}')
ls -l big.backup
echo "peak RSS before backup: ${before} kB, after: ${after} kB"
time curl -s -X POST -H "authorization: Bearer $KEY" -H "content-type: application/vnd.wasmclaw.backup" -T big.backup "http://127.0.0.1:18777/v1/restore?tenant=big"; echo
restored=$(grep VmHWM /proc/$PID/status | awk "{print \$2}")
echo "peak RSS after restore: ${restored} kB"
kill $PID
