;; {{name}}: a contract policy written in WebAssembly text, made by `agentx plugin new`.
;;
;; It defines one contract, `{{name}}` (info auto, requests ask, personal never), and lets
;; every categorised message through at the recipient's level: it asks a human (`ask`)
;; when that level is `ask`, refuses (`deny`) when it is `never`, and otherwise lets the
;; recipient's responder answer (`auto`). `agentx plugin build` wraps this core module into
;; a component of world agentx:plugin/contract-policy@0.1.0; the canonical ABI:
;;
;;   describe: () -> i32     pointer to {name, version, capabilities}, each (ptr, len)
;;   presets:  () -> i32     pointer to list<preset> (ptr, len); a preset is
;;                           {name ptr, name len, info u8, requests u8, personal u8}, 12 bytes
;;   decide:   (10 x i32) -> i32  the policy-request flattened: category (ptr, len),
;;                           contract (ptr, len), sender-level, recipient-level, sender and
;;                           recipient agent ids (ptr, len each); the decision (tag u8 @0:
;;                           0 auto, 1 ask, 2 deny; deny's string ptr @4, len @8) goes at
;;                           the returned pointer
(module
  (memory (export "memory") 1)

  (data (i32.const 16) "0.1.0")
  (data (i32.const 32) "\00") ;; capabilities: log (0)
  (data (i32.const 48) "not on this connection")
  (data (i32.const 128) "{{name}}")
  (global $heap (mut i32) (i32.const 1024))

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

  (func (export "describe") (result i32)
    (i32.store (i32.const 256) (i32.const 128)) (i32.store (i32.const 260) (i32.const {{name_len}}))
    (i32.store (i32.const 264) (i32.const 16)) (i32.store (i32.const 268) (i32.const 5))
    (i32.store (i32.const 272) (i32.const 32)) (i32.store (i32.const 276) (i32.const 1))
    (i32.const 256))

  (func (export "presets") (result i32)
    ;; One preset at 320: {{name}}, info auto (0), requests ask (1), personal never (2).
    (i32.store (i32.const 320) (i32.const 128)) (i32.store (i32.const 324) (i32.const {{name_len}}))
    (i32.store8 (i32.const 328) (i32.const 0))
    (i32.store8 (i32.const 329) (i32.const 1))
    (i32.store8 (i32.const 330) (i32.const 2))
    ;; The list at 300: pointer, length.
    (i32.store (i32.const 300) (i32.const 320)) (i32.store (i32.const 304) (i32.const 1))
    (i32.const 300))

  (func (export "decide")
    (param $category i32) (param $category-len i32) (param $contract i32)
    (param $contract-len i32) (param $sender-level i32) (param $level i32)
    (param i32 i32 i32 i32) (result i32)
    (if (i32.eq (local.get $level) (i32.const 2))
      (then
        ;; deny("not on this connection")
        (i32.store8 (i32.const 512) (i32.const 2))
        (i32.store (i32.const 516) (i32.const 48))
        (i32.store (i32.const 520) (i32.const 22))
        (return (i32.const 512))))
    ;; auto (0) or ask (1), as the recipient's level says.
    (i32.store8 (i32.const 512) (local.get $level))
    (i32.const 512))
)
