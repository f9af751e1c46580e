# Included by the top-level CMakeLists.txt (so the generated source is
# visible to libduet). Kernels: GLSL -> glslc -> spirv-opt -> spirv-val (a failure fails the
# build) -> embedded C arrays (tools/gen/embed_spirv.c). Nothing is compiled
# on the device at run time; the SPIR-V is never committed.
find_program(DUET_GLSLC glslc REQUIRED)
find_program(DUET_SPIRV_OPT spirv-opt REQUIRED)
find_program(DUET_SPIRV_VAL spirv-val REQUIRED)

set(DUET_SPV_ENV vulkan1.1)
set(DUET_SPV_DIR ${PROJECT_BINARY_DIR}/shaders/spv)
file(MAKE_DIRECTORY ${DUET_SPV_DIR})
set(DUET_SPV_ARGS)
set(DUET_SPV_FILES)

# duet_kernel(NAME SOURCE [DEFINE ...])
function(duet_kernel name source)
  set(raw ${DUET_SPV_DIR}/${name}.raw.spv)
  set(out ${DUET_SPV_DIR}/${name}.spv)
  set(defs)
  foreach(d ${ARGN})
    list(APPEND defs -D${d})
  endforeach()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${DUET_GLSLC} --target-env=${DUET_SPV_ENV} -fshader-stage=compute
            -I${PROJECT_SOURCE_DIR}/shaders ${defs} -MD -MF ${raw}.d -MT ${out}
            -o ${raw} ${PROJECT_SOURCE_DIR}/shaders/${source}
    COMMAND ${DUET_SPIRV_OPT} -O ${raw} -o ${out}
    COMMAND ${DUET_SPIRV_VAL} --target-env ${DUET_SPV_ENV} ${out}
    DEPENDS ${PROJECT_SOURCE_DIR}/shaders/${source}
    DEPFILE ${raw}.d
    COMMENT "SPIR-V ${name}"
    VERBATIM)
  set(DUET_SPV_ARGS ${DUET_SPV_ARGS} ${name} ${out} PARENT_SCOPE)
  set(DUET_SPV_FILES ${DUET_SPV_FILES} ${out} PARENT_SCOPE)
endfunction()

# GGML type ids of the weight formats (shaders/wtypes.glsl)
set(DUET_WTYPES f32=0 f16=1 q4_0=2 q4_1=3 q5_0=6 q5_1=7 q8_0=8 q4_k=12
    q5_k=13 q6_k=14 bf16=30)
foreach(pair ${DUET_WTYPES})
  string(REPLACE "=" ";" kv ${pair})
  list(GET kv 0 tname)
  list(GET kv 1 tid)
  duet_kernel(mm_cpu_${tname} mm_cpu.comp WTYPE=${tid})
  duet_kernel(mm_cpu_tok_${tname} mm_cpu_tok.comp WTYPE=${tid})
  duet_kernel(mm_gpu_${tname} mm_gpu.comp WTYPE=${tid})
endforeach()
duet_kernel(norm_quant norm_quant.comp)
duet_kernel(norm_quant_f64 norm_quant.comp F64=1)
duet_kernel(attn_cpu attn_cpu.comp)
duet_kernel(attn_gpu attn_gpu.comp)
duet_kernel(argmax argmax.comp)
duet_kernel(kv_quant kv_quant.comp)

set(DUET_EMBEDDED ${PROJECT_BINARY_DIR}/shaders/shaders_embedded.c)
add_custom_command(
  OUTPUT ${DUET_EMBEDDED}
  COMMAND ${DUET_EMBED_SPIRV} ${DUET_EMBEDDED} ${DUET_SPV_ARGS}
  DEPENDS ${DUET_EMBED_SPIRV} ${DUET_SPV_FILES}
  COMMENT "Embedding ${PROJECT_BINARY_DIR}/shaders/spv/*.spv")
set(DUET_EMBEDDED_SOURCE ${DUET_EMBEDDED})
