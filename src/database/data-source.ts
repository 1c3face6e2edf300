import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { validateEnvironment } from '../config/environment';
import { dataSourceOptions } from './data-source-options';

/** Used by the TypeORM CLI (`npm run migration:*`), configured from the same environment as the app. */
export default new DataSource(dataSourceOptions(new AppConfig(validateEnvironment(process.env))));
