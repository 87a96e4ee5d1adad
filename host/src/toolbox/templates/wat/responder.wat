;; {{name}}: a responder written in WebAssembly text, made by `agentx plugin new`.
;;
;; It replies `{{name}} heard: <message>` and logs one line per call; an empty message gets
;; no reply (it is left for a human). `agentx plugin build` wraps this core module into a
;; component of world agentx:plugin/responder@0.1.0 (no toolchain needed), so only the
;; canonical ABI is written here:
;;
;;   describe: () -> i32     pointer to {name, version, capabilities}, each (ptr, len)
;;   respond:  (i32) -> i32  the (request-context, message) tuple is in memory at the
;;                           argument (sender @20, content @36, each ptr then len); the
;;                           result<option<reply>, string> goes at the returned pointer
;;   log: (i32, i32, i32)    level (0 trace .. 4 error), message ptr, len
(module
  (import "agentx:plugin/log@0.1.0" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)

  ;; Constants below 512, the describe record at 256, return areas at 512, the heap at 1024.
  (data (i32.const 16) "0.1.0")
  (data (i32.const 32) "\00") ;; capabilities: log (0)
  (data (i32.const 48) " heard: ")
  (data (i32.const 64) "answering a message")
  (data (i32.const 128) "{{name}}")
  (global $heap (mut i32) (i32.const 1024))
  ;; Where $append writes next.
  (global $end (mut i32) (i32.const 0))

  ;; A bump allocator that never frees: an instance serves a single call.
  (func $cabi_realloc (export "cabi_realloc")
    (param $old i32) (param $old-size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (i32.const -1) (memory.grow (i32.add (i32.const 1) (i32.shr_u
              (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
              (i32.const 16)))))
          (then unreachable))))
    (local.get $ptr))

  (func $append (param $src i32) (param $len i32)
    (memory.copy (global.get $end) (local.get $src) (local.get $len))
    (global.set $end (i32.add (global.get $end) (local.get $len))))

  (func (export "describe") (result i32)
    (i32.store (i32.const 256) (i32.const 128)) (i32.store (i32.const 260) (i32.const {{name_len}}))
    (i32.store (i32.const 264) (i32.const 16)) (i32.store (i32.const 268) (i32.const 5))
    (i32.store (i32.const 272) (i32.const 32)) (i32.store (i32.const 276) (i32.const 1))
    (i32.const 256))

  (func (export "respond") (param $args i32) (result i32)
    (local $content i32) (local $content-len i32) (local $reply i32)
    (local.set $content (i32.load offset=36 (local.get $args)))
    (local.set $content-len (i32.load offset=40 (local.get $args)))
    (call $log (i32.const 2) (i32.const 64) (i32.const 19))

    ;; Nothing to answer: ok(none), no reply.
    (if (i32.eqz (local.get $content-len))
      (then
        (i32.store8 (i32.const 512) (i32.const 0))
        (i32.store8 (i32.const 516) (i32.const 0))
        (return (i32.const 512))))

    ;; <name> heard: <content>
    (local.set $reply (call $cabi_realloc (i32.const 0) (i32.const 0) (i32.const 1)
      (i32.add (local.get $content-len) (i32.const {{reply_prefix_len}}))))
    (global.set $end (local.get $reply))
    (call $append (i32.const 128) (i32.const {{name_len}}))
    (call $append (i32.const 48) (i32.const 8))
    (call $append (local.get $content) (local.get $content-len))

    ;; ok(some(reply)): tag @0, option tag @4, content ptr @8, len @12.
    (i32.store8 (i32.const 512) (i32.const 0))
    (i32.store8 (i32.const 516) (i32.const 1))
    (i32.store (i32.const 520) (local.get $reply))
    (i32.store (i32.const 524) (i32.sub (global.get $end) (local.get $reply)))
    (i32.const 512))
)
