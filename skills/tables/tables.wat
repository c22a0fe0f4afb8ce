;; `tables` (hostile): grows a funcref table past any sane size.
;;
;; Rust never emits `table.grow`, so this skill is a hand-written component
;; in the component-model text format (not a member of the skills cargo
;; workspace; the tests parse it with the `wat` crate and load the bytes).
;; It exports `wasmclaw:skill/handler@0.1.0` and imports nothing.
;;
;; Input: a JSON object. Every decimal digit in the input, read in order as
;; one number, is N (10000000 when there is none; at most 2^32-1). The first
;; letter of the first key picks the mode:
;;   {"grow": N}       one `table.grow` by N; a refusal is reported.
;;   {"must_grow": N}  one `table.grow` by N; a refusal traps (`unreachable`),
;;                     as a guest whose allocator cannot cope would.
;;   {"steps": N}      `table.grow` by N (at least 1) again and again until
;;                     it is refused.
;;   {}                one `table.grow` by 10000000.
;; Output: {"grows":<successful grows>,"size":<table size at the end>,
;;          "last":<what the last table.grow returned: old size, or -1>}
;;
;; Expected host outcome: the call's resource limiter refuses any growth
;; past `limits.table_elements` (all tables of the call together, default
;; 100000): `table.grow` returns -1 and the guest carries on, so the call
;; succeeds with "last":-1 and a table no larger than the limit. When the
;; guest traps after the refusal (`must_grow`), the call fails with the trap
;; "table limit: the call tried to grow its tables past its limit of N
;; elements" (not a memory-limit error). wasmtime charges one unit of fuel
;; per element asked for before trying the growth, so asking for more
;; elements than the call has fuel is `out of fuel` at once. The pooling
;; allocator also bounds every table to its slot (wasmtime's default, 20000
;; elements: the engine does not set `PoolingAllocationConfig::
;; table_elements`), which refuses a growth under `table_elements` but past
;; the slot the same way (-1) without the limiter being told, and refuses
;; at compile time a component whose table starts larger than the slot.
;; Nothing is allocated for a refused growth; the host and other tenants
;; are unaffected. (tests/e2e/corpus_tables.rs)
(component
  (core module $m
    (memory (export "memory") 1)
    (table $t 0 funcref)
    ;; The bump allocator's next free byte: the input lands here.
    (global $heap (mut i32) (i32.const 8192))
    ;; Where the output is written next (the output lives in 2048..8191).
    (global $out (mut i32) (i32.const 2048))

    (data (i32.const 16) "tables")
    (data (i32.const 32) "0.1.0")
    (data (i32.const 48) "Hostile: grows a funcref table by the number in its input (default 10000000 elements) and reports what table.grow returned.")
    (data (i32.const 256) "{\"type\":\"object\",\"properties\":{\"grow\":{\"type\":\"integer\"},\"must_grow\":{\"type\":\"integer\"},\"steps\":{\"type\":\"integer\"}}}")
    (data (i32.const 512) "{\"grows\":")
    (data (i32.const 544) ",\"size\":")
    (data (i32.const 576) ",\"last\":")

    ;; `cabi_realloc` as a bump allocator: each call is a fresh instance,
    ;; so nothing is ever freed.
    (func $realloc (export "cabi_realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $p) (local.get $new_size)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.sub
                    (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.const 1))
                    (memory.size)))
                (i32.const -1))
            (then unreachable))))
      (if (local.get $old)
        (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
      (local.get $p))

    (func $byte (param $b i32)
      (i32.store8 (global.get $out) (local.get $b))
      (global.set $out (i32.add (global.get $out) (i32.const 1))))

    (func $str (param $p i32) (param $l i32)
      (memory.copy (global.get $out) (local.get $p) (local.get $l))
      (global.set $out (i32.add (global.get $out) (local.get $l))))

    ;; Writes `v` as a signed decimal number.
    (func $num (param $v i32)
      (local $start i32) (local $end i32) (local $t i32)
      (if (i32.lt_s (local.get $v) (i32.const 0))
        (then
          (call $byte (i32.const 45))
          (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
      (local.set $start (global.get $out))
      (loop $digit
        (call $byte (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
        (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
        (br_if $digit (local.get $v)))
      ;; The digits came out last first: reverse them.
      (local.set $end (i32.sub (global.get $out) (i32.const 1)))
      (block $done
        (loop $swap
          (br_if $done (i32.ge_u (local.get $start) (local.get $end)))
          (local.set $t (i32.load8_u (local.get $start)))
          (i32.store8 (local.get $start) (i32.load8_u (local.get $end)))
          (i32.store8 (local.get $end) (local.get $t))
          (local.set $start (i32.add (local.get $start) (i32.const 1)))
          (local.set $end (i32.sub (local.get $end) (i32.const 1)))
          (br $swap))))

    ;; handler.describe: an `info` record of four strings, returned through
    ;; memory at 1024.
    (func (export "describe") (result i32)
      (i32.store (i32.const 1024) (i32.const 16))
      (i32.store (i32.const 1028) (i32.const 6))
      (i32.store (i32.const 1032) (i32.const 32))
      (i32.store (i32.const 1036) (i32.const 5))
      (i32.store (i32.const 1040) (i32.const 48))
      (i32.store (i32.const 1044) (i32.const 123))
      (i32.store (i32.const 1048) (i32.const 256))
      (i32.store (i32.const 1052) (i32.const 116))
      (i32.const 1024))

    ;; handler.invoke: `result<string, error>` returned through memory at
    ;; 1056 (discriminant byte, then the string's pointer and length at +4).
    (func (export "invoke") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $c i32) (local $n i64) (local $digits i32)
      (local $mode i32) (local $delta i32) (local $r i32) (local $grows i32)
      (block $scanned
        (loop $scan
          (br_if $scanned (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          ;; The mode: the byte after the first `"`.
          (if (i32.and
                (i32.eqz (local.get $mode))
                (i32.and
                  (i32.eq (local.get $c) (i32.const 34))
                  (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $len))))
            (then
              (local.set $mode
                (i32.load8_u (i32.add (i32.add (local.get $ptr) (local.get $i)) (i32.const 1))))))
          (if (i32.and
                (i32.ge_u (local.get $c) (i32.const 48))
                (i32.le_u (local.get $c) (i32.const 57)))
            (then
              (local.set $digits (i32.const 1))
              (local.set $n
                (i64.add
                  (i64.mul (local.get $n) (i64.const 10))
                  (i64.extend_i32_u (i32.sub (local.get $c) (i32.const 48)))))
              (if (i64.gt_u (local.get $n) (i64.const 0xffffffff))
                (then (local.set $n (i64.const 0xffffffff))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan)))
      (if (i32.eqz (local.get $digits))
        (then (local.set $n (i64.const 10000000))))
      (local.set $delta (i32.wrap_i64 (local.get $n)))

      (if (i32.eq (local.get $mode) (i32.const 115)) ;; `s`teps
        (then
          (if (i32.eqz (local.get $delta))
            (then (local.set $delta (i32.const 1))))
          (block $refused
            (loop $again
              (local.set $r (table.grow $t (ref.null func) (local.get $delta)))
              (br_if $refused (i32.eq (local.get $r) (i32.const -1)))
              (local.set $grows (i32.add (local.get $grows) (i32.const 1)))
              (br $again))))
        (else
          (local.set $r (table.grow $t (ref.null func) (local.get $delta)))
          (if (i32.ne (local.get $r) (i32.const -1))
            (then (local.set $grows (i32.const 1))))
          (if (i32.and
                (i32.eq (local.get $mode) (i32.const 109)) ;; `m`ust_grow
                (i32.eq (local.get $r) (i32.const -1)))
            (then unreachable))))

      (call $str (i32.const 512) (i32.const 9))
      (call $num (local.get $grows))
      (call $str (i32.const 544) (i32.const 8))
      (call $num (table.size $t))
      (call $str (i32.const 576) (i32.const 8))
      (call $num (local.get $r))
      (call $byte (i32.const 125))

      (i32.store8 (i32.const 1056) (i32.const 0))
      (i32.store (i32.const 1060) (i32.const 2048))
      (i32.store (i32.const 1064) (i32.sub (global.get $out) (i32.const 2048)))
      (i32.const 1056))
  )
  (core instance $i (instantiate $m))

  (type $error (variant
    (case "denied" string)
    (case "not-found" string)
    (case "invalid" string)
    (case "limit-exceeded" string)
    (case "unavailable" string)
    (case "failed" string)))
  (type $info (record
    (field "name" string)
    (field "version" string)
    (field "description" string)
    (field "input-schema" string)))

  (func $describe (result $info)
    (canon lift (core func $i "describe") (memory (core memory $i "memory"))))
  (func $invoke (param "input" string) (result (result string (error $error)))
    (canon lift (core func $i "invoke") (memory (core memory $i "memory")) (realloc (core func $i "cabi_realloc"))))

  (instance $handler
    (export "error" (type $error))
    (export "info" (type $info))
    (export "describe" (func $describe))
    (export "invoke" (func $invoke)))
  (export "wasmclaw:skill/handler@0.1.0" (instance $handler))
)
