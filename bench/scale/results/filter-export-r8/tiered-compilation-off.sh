#!/bin/bash
# alternate default vs TieredCompilation=false: views bench, 400 pretrain steps, selective search soco+fast
cd /work/main
for round in 1 2; do for c in cliK0 cliK; do
  cli="dotnet /tmp/$c/Soco.Cli.dll"
  v=$($cli views bench --images samples/photos --proposals /tmp/tcprops --recipe fpn --passes 3 --workers 1,2 --epochs 3 | grep -o '"per_second": [0-9.]*' | head -3 | tr '\n' ' ')
  rm -rf /tmp/tcrun; s0=$(date +%s.%N)
  $cli pretrain --config demo --set epochs=80 --set checkpoint_steps=500 --images samples/photos --proposals /tmp/tcprops --out /tmp/tcrun --threads 1 --workers 2 >/dev/null
  s1=$(date +%s.%N)
  t=$(/usr/bin/python3 -c "
import json,statistics,sys
m=[json.loads(l) for l in open('/tmp/tcrun/metrics.jsonl')]; st=[x['step_seconds'] for x in m[50:]]
print(f'steps {len(m)} median {1e3*statistics.median(st):.1f} ms mean {1e3*statistics.mean(st):.1f} ms loss_last {m[-1][\"loss\"]:.6f}')")
  for m in soco fast; do $cli proposals bench --images /tmp/bimg --mode $m --json /tmp/pb.json > /tmp/pb.txt; p="$p $m $(grep mean /tmp/pb.txt | awk -F'│' '{print $3}' | xargs) $(grep 'worker(s)' /tmp/pb.txt | cut -d';' -f1 | sed 's/ worker(s)://' | tr '\n' ' ')"; done
  echo "$round $c | views $v | pretrain wall $(echo "$s1 - $s0" | bc) s $t | ss $p"; p=""
done; done
