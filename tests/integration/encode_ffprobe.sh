#!/usr/bin/env bash
# Encoder outputs as a player sees them: `ditfarm-worker encode-test-pattern`
# writes each codec, ffprobe checks codec, frame count, rate, size, audio and
# tags; the sidecar's SHA-256 must match sha256sum; bad inputs fail with a clear
# message and leave no file under the final name.
set -u
B="${DF_BUILD_DIR:?}"
S="${DF_SOURCE_DIR:?}"
W="$B/worker/ditfarm-worker"
T=$(mktemp -d /tmp/df_encode_it.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# probe FILE ENTRY -> value of the first video stream's ENTRY
probe() {
    ffprobe -v error -count_frames -select_streams v:0 -show_entries "stream=$2" \
        -of default=noprint_wrappers=1:nokey=1 "$1" | head -1
}
tag() { # tag FILE KEY (case-insensitive: Matroska upper-cases tag names)
    ffprobe -v error -show_entries format_tags -of default=noprint_wrappers=1 "$1" |
        grep -i "^TAG:$2=" | head -1 | cut -d= -f2-
}
sidecar_sha() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["output"]["sha256"])' "$1"; }

python3 - "$T/tone.wav" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb")
w.setnchannels(2); w.setsampwidth(2); w.setframerate(48000)
w.writeframes(b"".join(struct.pack("<hh", int(8000 * math.sin(2 * math.pi * 440 * i / 48000)), 0)
                       for i in range(48000 * 2)))
w.close()
PY

check_video() { # check_video CODEC FILE PROBE_CODEC [--audio WAV]
    local codec=$1 out=$2 want=$3; shift 3
    local line
    line=$("$W" encode-test-pattern "$out" --codec "$codec" --frames 10 --fps 24 --size 130x66 \
        --meta prompt="a red fox" --meta seed=42 --meta model=wan2.1-t2v-1.3b "$@" 2>"$T/err") ||
        { bad "$codec: exit $? ($(cat "$T/err"))"; return; }
    echo "$line" | grep -q "^wrote $out: 10 frames, $codec (" || bad "$codec: output line '$line'"
    [ "$(probe "$out" codec_name)" = "$want" ] || bad "$codec: codec $(probe "$out" codec_name)"
    [ "$(probe "$out" nb_read_frames)" = 10 ] || bad "$codec: frames $(probe "$out" nb_read_frames)"
    [ "$(probe "$out" r_frame_rate)" = 24/1 ] || bad "$codec: rate $(probe "$out" r_frame_rate)"
    [ "$(probe "$out" width)x$(probe "$out" height)" = 130x66 ] || bad "$codec: size"
    [ "$(tag "$out" prompt)" = "a red fox" ] || bad "$codec: prompt tag '$(tag "$out" prompt)'"
    [ "$(tag "$out" seed)" = 42 ] || bad "$codec: seed tag"
    [ "$(tag "$out" model)" = wan2.1-t2v-1.3b ] || bad "$codec: model tag"
    [ -n "$(tag "$out" ditfarm_version)" ] || bad "$codec: no ditfarm_version tag"
    [ "$(sidecar_sha "$out.json")" = "$(sha256sum "$out" | cut -d' ' -f1)" ] ||
        bad "$codec: sidecar sha256 differs from sha256sum"
    [ ! -e "$(dirname "$out")/.$(basename "$out").part" ] || bad "$codec: .part left behind"
    echo "ok: $codec -> $(basename "$out")"
}

check_video h264 "$T/a.mp4" h264
check_video hevc "$T/a_hevc.mp4" hevc
check_video prores "$T/a.mov" prores
check_video ffv1 "$T/a.mkv" ffv1
check_video prores "$T/f.mov" prores --float   # the VAE entry point, 10-bit path
[ "$(probe "$T/a.mov" pix_fmt)" = yuv422p10le ] || bad "prores pix_fmt"
[ "$(probe "$T/a.mkv" pix_fmt)" = bgr0 ] || bad "ffv1 pix_fmt"
[ "$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_tag_string \
     -of default=nw=1:nk=1 "$T/a_hevc.mp4")" = hvc1 ] || bad "hevc not tagged hvc1"

# audio: AAC into mp4 (PCM does not fit), copied into mkv; cut to the video (10/24 s)
audio_codec() {
    ffprobe -v error -select_streams a:0 -show_entries stream=codec_name \
        -of default=nw=1:nk=1 "$1"
}
check_video h264 "$T/av.mp4" h264 --audio "$T/tone.wav"
[ "$(audio_codec "$T/av.mp4")" = aac ] || bad "mp4 audio: '$(audio_codec "$T/av.mp4")'"
check_video ffv1 "$T/av.mkv" ffv1 --audio "$T/tone.wav"
[ "$(audio_codec "$T/av.mkv")" = pcm_s16le ] || bad "mkv audio: '$(audio_codec "$T/av.mkv")'"
dur=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$T/av.mp4")
python3 -c "import sys; d=float(sys.argv[1]); sys.exit(0 if abs(d-10/24) < 0.06 else 1)" "$dur" ||
    bad "mp4 with audio lasts $dur s, want ~0.417 (audio is 2 s: -shortest)"
grep -q '"mode":[[:space:]]*"aac"' "$T/av.mp4.json" || bad "sidecar audio mode"

# PNG sequence: a directory of frames; the checksum covers them in name order
"$W" encode-test-pattern "$T/seq" --codec png --frames 5 --size 65x33 >/dev/null 2>"$T/err" ||
    bad "png: $(cat "$T/err")"
[ "$(ls "$T/seq" | wc -l)" = 5 ] || bad "png: $(ls "$T/seq" | wc -l) files"
[ "$(probe "$T/seq/frame_00004.png" codec_name)" = png ] || bad "png codec"
[ "$(probe "$T/seq/frame_00004.png" width)" = 65 ] || bad "png width"
[ "$(sidecar_sha "$T/seq.json")" = "$(cat "$T"/seq/frame_*.png | sha256sum | cut -d' ' -f1)" ] ||
    bad "png sidecar sha256"
echo "ok: png sequence"

# bad input: clear message, exit code, nothing under the final name
expect_fail() { # expect_fail RC MESSAGE_SUBSTRING OUT ARGS...
    local rc=$1 msg=$2 out=$3; shift 3
    "$W" encode-test-pattern "$out" "$@" >/dev/null 2>"$T/err"
    local got=$?
    [ "$got" = "$rc" ] || bad "'$*': exit $got, want $rc"
    grep -qF -- "$msg" "$T/err" || bad "'$*': message '$(cat "$T/err")' lacks '$msg'"
    [ ! -e "$out" ] && [ ! -e "$(dirname "$out")/.$(basename "$out").part" ] ||
        bad "'$*': left a file behind"
    echo "ok: refused $*"
}
expect_fail 2 "unknown codec 'vp9' (known: h264, hevc, prores, ffv1, png)" "$T/x.mp4" --codec vp9
expect_fail 1 "encode '/nonexistent-dir/x.mp4': cannot create the temporary output: No such file or directory" \
    /nonexistent-dir/x.mp4 --codec h264
expect_fail 1 "audio '$T/missing.wav': cannot open: No such file or directory" \
    "$T/x.mp4" --codec h264 --audio "$T/missing.wav"
for f in audio_garbage.wav audio_truncated.wav; do
    expect_fail 1 "audio '$S/tests/data/bad/$f': not a readable audio file" \
        "$T/x.mp4" --codec h264 --audio "$S/tests/data/bad/$f"
done
expect_fail 1 "the mp4 container cannot hold prores" "$T/x.mp4" --codec prores
exit $fail
