export * from './digest.js';
