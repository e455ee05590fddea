declare const SKIFF_VERSION: string;
console.log(`skiff-image version ${SKIFF_VERSION}`);
