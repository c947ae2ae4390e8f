# The layers of tapegrad (docs/architecture.md, "Layers and targets"). Each folder is
# a target of its own. A target's include path holds only its own folder's headers
# and, through what it links, those of the layers below it: a folder's headers are
# reached as "tapegrad/<folder>/<file>.hpp" through build/layers/<folder>/tapegrad/<folder>,
# a link to the folder, so an include that points up a layer names a file that is
# not there for that target, and does not compile.

# Makes ${binary_dir}/layers/<folder>/tapegrad/<folder> point at ${source_dir}/<folder>.
function(tapegrad_stage_headers folder source_dir binary_dir)
  set(stage ${binary_dir}/layers/${folder}/tapegrad)
  file(MAKE_DIRECTORY ${stage})
  if(NOT IS_SYMLINK ${stage}/${folder})
    file(CREATE_LINK ${source_dir}/${folder} ${stage}/${folder} SYMBOLIC)
  endif()
endfunction()

# tapegrad_layer(<folder> [PUBLIC targets...] [PRIVATE targets...]): the static library
# tapegrad_<folder> from <folder>/*.cpp, its headers staged as above.
function(tapegrad_layer folder)
  cmake_parse_arguments(arg "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.cpp)
  add_library(tapegrad_${folder} STATIC ${sources})
  tapegrad_stage_headers(${folder} ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_include_directories(tapegrad_${folder} PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/layers/${folder}>)
  target_link_libraries(tapegrad_${folder} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE} $<BUILD_INTERFACE:tapegrad_warnings>)
  set_target_properties(tapegrad_${folder} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # Math functions need not set errno (nothing reads it after them): std::sqrt then compiles to
  # one instruction and loops that call it vectorise (Adam's update, for one).
  target_compile_options(tapegrad_${folder} PRIVATE -fno-math-errno)
endfunction()
