// Where the embedded pico demo lives (fixtures/README.md says where it came from).
export const DEMO_MODELS = "fixtures/pico/models";
export const DEMO_DATA = "fixtures/pico/data/pico_document";
