#!/bin/sh
# Regenerates the llama.cpp references for the rope-scaling presets (see
# README.md). Run from the repository root with ../shared present and
# node-llama-cpp 3.22.1 installed at ~/nlc (../shared/tools/README.md).
set -e
EN="The patient is a 67-year-old man with a history of hypertension, type 2 diabetes and chronic kidney disease stage 3, who presents to the emergency department with two days of worsening shortness of breath, orthopnoea and bilateral ankle swelling. He reports a dry cough, no fever and no chest pain. On examination his blood pressure is 168/94 mmHg, heart rate 104 beats per minute, respiratory rate 24 and oxygen saturation 89% on room air. There are fine crackles at both lung bases and pitting oedema to the knees. Assessment and plan:"
ZH="患者男性，六十七岁，既往高血压、二型糖尿病及慢性肾病病史。两天前开始出现进行性呼吸困难、夜间不能平卧及双下肢水肿，伴干咳，无发热、无胸痛。查体：血压168/94毫米汞柱，心率每分钟104次，血氧饱和度89%。双肺底可闻及细湿啰音。初步诊断与处理："
out=engine/testdata/yarn
for p in tiny-qwen2-yarn tiny-qwen3-yarn tiny-gemma3-yarn tiny-llama-linear; do
  ${DAYI:-go run ./cmd/dayi} bench synth --preset $p --type f32 --seed 7 --vocab-dir ../shared/vocab -o /tmp/$p.gguf
  # tiny-llama's SPM vocabulary spells the Chinese prompt in bytes: too long for the context.
  zh="$ZH"; [ $p = tiny-llama-linear ] && zh="患者发热三天，伴咳嗽。"
  NLC_DIR=~/nlc node ../shared/tools/nlc_ref.mjs ref --model /tmp/$p.gguf --out $out/$p.json \
    --threads 1 --ctx 256 --n 48 --top 40 --step-top 5 --kv-type F32 \
    --prompt "Once upon a time" --prompt "$EN" --prompt "$zh"
done
