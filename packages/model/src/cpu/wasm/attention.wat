;; WebAssembly SIMD inner loops of the CPU engine's causal attention: one query row (one head of
;; one position) against `count` key/value rows that lie `stride` bytes apart. The softmax itself
;; (max, exp, sums) runs in JavaScript between these calls on a view of this memory. Pointers are
;; byte offsets; HS (the head size) must be a multiple of 4.
;; Compiled into attention-wasm.ts by `npm run build:wasm` (scripts/build-wasm.ts).
(module
  (memory (export "memory") 1)

  (func $dot (param $a i32) (param $b i32) (param $hsb i32) (result f32)
    (local $i i32) (local $c v128)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $hsb)))
      (local.set $c (f32x4.add (local.get $c) (f32x4.mul
        (v128.load (i32.add (local.get $a) (local.get $i)))
        (v128.load (i32.add (local.get $b) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $next)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $c)) (f32x4.extract_lane 1 (local.get $c)))
      (f32.add (f32x4.extract_lane 2 (local.get $c)) (f32x4.extract_lane 3 (local.get $c)))))

  ;; y[0..HS) += a * x[0..HS)
  (func $axpy (param $y i32) (param $x i32) (param $a f32) (param $hsb i32)
    (local $i i32) (local $av v128)
    (local.set $av (f32x4.splat (local.get $a)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $hsb)))
      (v128.store (i32.add (local.get $y) (local.get $i)) (f32x4.add
        (v128.load (i32.add (local.get $y) (local.get $i)))
        (f32x4.mul (local.get $av) (v128.load (i32.add (local.get $x) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $next))))

  ;; s[j] = scale * q . k_j for j < count (k_j = k + j * stride).
  (func (export "scores")
    (param $s i32) (param $q i32) (param $k i32) (param $count i32) (param $stride i32)
    (param $HS i32) (param $scale f32)
    (local $j i32) (local $hsb i32)
    (local.set $hsb (i32.shl (local.get $HS) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $j) (local.get $count)))
      (f32.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2)))
        (f32.mul (local.get $scale) (call $dot (local.get $q) (local.get $k) (local.get $hsb))))
      (local.set $k (i32.add (local.get $k) (local.get $stride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))

  ;; out = scale * sum_j p[j] v_j
  (func (export "mix")
    (param $out i32) (param $p i32) (param $v i32) (param $count i32) (param $stride i32)
    (param $HS i32) (param $scale f32)
    (local $j i32) (local $hsb i32) (local $i i32)
    (local.set $hsb (i32.shl (local.get $HS) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $hsb)))
      (v128.store (i32.add (local.get $out) (local.get $i)) (v128.const i32x4 0 0 0 0))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $next)))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $j) (local.get $count)))
      (call $axpy (local.get $out) (local.get $v)
        (f32.mul (local.get $scale) (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2)))))
        (local.get $hsb))
      (local.set $v (i32.add (local.get $v) (local.get $stride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))

  ;; dp[j] = dout . v_j and dv_j += p[j] * dout (dv_j = dv + j * stride).
  (func (export "dpdv")
    (param $dp i32) (param $p i32) (param $dout i32) (param $v i32) (param $dv i32)
    (param $count i32) (param $stride i32) (param $HS i32)
    (local $j i32) (local $hsb i32) (local $jb i32)
    (local.set $hsb (i32.shl (local.get $HS) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $j) (local.get $count)))
      (local.set $jb (i32.shl (local.get $j) (i32.const 2)))
      (f32.store (i32.add (local.get $dp) (local.get $jb))
        (call $dot (local.get $dout) (local.get $v) (local.get $hsb)))
      (call $axpy (local.get $dv) (local.get $dout)
        (f32.load (i32.add (local.get $p) (local.get $jb))) (local.get $hsb))
      (local.set $v (i32.add (local.get $v) (local.get $stride)))
      (local.set $dv (i32.add (local.get $dv) (local.get $stride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))

  ;; dq += sum_j ds[j] k_j and dk_j += ds[j] * q.
  (func (export "dqdk")
    (param $dq i32) (param $dk i32) (param $ds i32) (param $q i32) (param $k i32)
    (param $count i32) (param $stride i32) (param $HS i32)
    (local $j i32) (local $hsb i32) (local $d f32)
    (local.set $hsb (i32.shl (local.get $HS) (i32.const 2)))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $j) (local.get $count)))
      (local.set $d (f32.load (i32.add (local.get $ds) (i32.shl (local.get $j) (i32.const 2)))))
      (call $axpy (local.get $dq) (local.get $k) (local.get $d) (local.get $hsb))
      (call $axpy (local.get $dk) (local.get $q) (local.get $d) (local.get $hsb))
      (local.set $k (i32.add (local.get $k) (local.get $stride)))
      (local.set $dk (i32.add (local.get $dk) (local.get $stride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $next))))
)
