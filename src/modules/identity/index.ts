export { IdentityModule } from './identity.module';
export { UsersService } from './users.service';
export { UserEntity, ROLES, type Role } from './user.entity';
