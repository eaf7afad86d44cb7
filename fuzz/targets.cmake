# The fuzz targets, one fuzz_NAME.cpp each: built under libFuzzer by the fuzz preset (fuzz/CMakeLists.txt)
# and replayed on tests/fuzz/seeds/ by the ordinary test build (tests/CMakeLists.txt).
set(VERNIER_FUZZ_TARGETS gguf safetensors safetensors_index llama2c hf_config tokenizer_json imatrix hf_quant values)
